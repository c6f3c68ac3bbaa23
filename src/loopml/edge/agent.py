"""The edge agent: ``loopml edge agent --server URL --deployment NAME``.

It runs on the device, next to the applications that call it, and keeps one model current:

- **pull** (GitOps-style: the device asks, the server never pushes): every ``poll_s`` it reads
  the deployment from the central server, resolves the route's model URI (an alias such as
  ``models:/fraud@edge``) to a version, and when the version changed downloads it into
  ``work_dir/models/v<N>``;
- **verify**: every file's sha256 must match the digests recorded in its MLmodel when the
  version was saved; a mismatch is refused, the old model keeps serving, and an
  ``edge.digest_mismatch`` event is appended on the server (an alert rule can fire on it);
- **swap without dropping requests**: the new model is loaded and warmed up beside the old
  one, then one reference assignment switches; requests already running finish on the
  model they started with;
- **measure on the device and report back**: after a swap it times single-row calls on the
  model's input example and logs p50/p99 as "measured on target" on its run;
- **inference log while offline**: every answered request is appended to a local JSON-lines
  spool at once; an uploader moves closed spool segments to the server (artifacts of the
  agent's run in experiment ``loopml-edge``) and deletes a segment only after the upload
  succeeded, so a network outage delays records and never loses them.

The model server speaks OIP V2 (``/v2/models/<name>/infer``), MLflow's ``/invocations``,
``/health`` (and the V2 health routes) and Prometheus ``/metrics``; inputs are checked
against the model's signature by loopml's serving runtime.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("loopml.edge")
EXPERIMENT = "loopml-edge"


class LogSpool:
    """Append-only JSON-lines spool with closed segments awaiting upload.

    ``write`` appends one record and flushes it to the OS (the process may die, the
    record stays). ``rotate`` fsyncs and closes the open segment and returns the closed
    ones, oldest first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        (folder / "pending").mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._fh = (folder / "current.jsonl").open("ab")
        self.count = 0

    def write(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            self.count += 1

    def rotate(self) -> list[Path]:
        with self._lock:
            if self._fh.tell() > 0:
                self._fh.flush()
                os.fsync(self._fh.fileno())
                self._fh.close()
                os.replace(self.folder / "current.jsonl",
                           self.folder / "pending" / f"{time.time_ns()}.jsonl")
                self._fh = (self.folder / "current.jsonl").open("ab")
        return sorted((self.folder / "pending").glob("*.jsonl"))

    def pending(self) -> int:
        return len(list((self.folder / "pending").glob("*.jsonl")))


class EdgeAgent:
    """One deployment's model on one device (see the module docstring)."""

    def __init__(self, server: str, deployment: str, work_dir: str | Path, *,
                 name: str = "model", poll_s: float = 1.0, upload_s: float = 2.0,
                 agent_id: str | None = None) -> None:
        self.server, self.deployment, self.name = server.rstrip("/"), deployment, name
        self.work = Path(work_dir)
        self.work.mkdir(parents=True, exist_ok=True)
        self.poll_s, self.upload_s = poll_s, upload_s
        self.state_file = self.work / "state.json"
        self.state: dict[str, Any] = json.loads(self.state_file.read_text()) \
            if self.state_file.is_file() else {}
        self.agent_id = agent_id or self.state.get("agent_id") or \
            f"{socket.gethostname()}-{uuid.uuid4().hex[:6]}"
        self.state["agent_id"] = self.agent_id
        self.spool = LogSpool(self.work / "spool")
        self.current: Any = None  # ServedModel; replaced by one assignment on a swap
        self.version: str | None = None
        self.online = False
        self.counters = {"requests": 0, "errors": 0, "swaps": 0, "refused": 0, "uploaded": 0}
        self._client: Any = None
        self._stop = threading.Event()
        self._restore()

    # ---- state -----------------------------------------------------------------------------
    def _save_state(self) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.state_file)

    def _restore(self) -> None:
        """Serve the last verified model at once after a restart, even offline."""
        v = self.state.get("version")
        folder = self.work / "models" / f"v{v}"
        if v and folder.is_dir():
            try:
                self._swap(folder, str(v), trusted=bool(self.state.get("trusted")))
            except Exception as e:  # a damaged local copy: wait for the server
                log.warning("could not restore v%s: %s", v, e)

    def client(self) -> Any:
        if self._client is None:
            from loopml.tracking._client import TrackingClient

            self._client = TrackingClient(self.server)
        return self._client

    # ---- pull, verify, swap ----------------------------------------------------------------
    def poll_once(self) -> str:
        """One poll: ``unchanged``, ``swapped``, ``refused`` or ``offline``."""
        from loopml.models.uris import resolve, resolve_version
        from loopml.store import get_deployment_store

        try:
            client = self.client()
            dep = get_deployment_store(client.store).get_deployment(self.deployment)
            uri = max(dep.routes, key=lambda r: r.weight).model_uri
            mv = resolve_version(uri, client) if uri.startswith("models:/") else None
            self.online = True
        except Exception as e:  # the network or the server is down: keep serving
            self.online = False
            log.info("server unreachable: %s", e)
            return "offline"
        version = str(mv.version) if mv else uri
        if version == self.version or version == self.state.get("refused"):
            return "unchanged"
        dest = self.work / "models" / f"v{version}"
        try:
            src = resolve(f"models:/{mv.name}/{mv.version}" if mv else uri, client).folder
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(src, dest)
        except Exception as e:
            log.info("download of %s failed: %s", version, e)
            return "offline"
        try:
            self._swap(dest, version, trusted=bool(mv and mv.trusted))
        except Exception as e:
            return self._refuse(version, dest, e)
        self.state.update(version=version, trusted=bool(mv and mv.trusted), refused=None)
        self._save_state()
        self._report(version)
        return "swapped"

    def _swap(self, folder: Path, version: str, trusted: bool) -> None:
        from loopml.serving.runtime import ServedModel

        new = ServedModel(self.name, str(folder), trust=trusted, version=version)
        example = _example(new)
        if example is not None:
            new.predict_rows(new.rows_from_any(example))  # warm-up before it takes traffic
        self.current, self.version = new, version  # the swap: one reference assignment
        self.counters["swaps"] += 1

    def _refuse(self, version: str, dest: Path, e: Exception) -> str:
        self.counters["refused"] += 1
        self.state["refused"] = version
        self._save_state()
        shutil.rmtree(dest, ignore_errors=True)
        reason = " ".join(str(getattr(e, "message", e)).split())
        log.error("refused version %s: %s (keeping %s)", version, reason, self.version)
        try:
            self.client().store.append_event(
                "edge.digest_mismatch" if "digest" in reason.lower() or "sha256" in reason.lower()
                else "edge.model_refused", self.deployment,
                {"agent": self.agent_id, "version": version, "kept": self.version,
                 "reason": reason[:1000]})
        except Exception as err:
            log.warning("could not raise the event: %s", err)
        return "refused"

    def _report(self, version: str) -> None:
        """Time the new model here (on the target) and log it on the agent's run."""
        example = _example(self.current)
        if example is None:
            return
        rows = self.current.rows_from_any(example)
        one = rows.iloc[:1] if hasattr(rows, "iloc") else rows[:1]
        times = []
        for _ in range(200):
            t = time.perf_counter()
            self.current.predict_rows(one)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        try:
            rid = self._run_id()
            c = self.client()
            c.log_metric(rid, f"v{version}.p50_ms", times[100])
            c.log_metric(rid, f"v{version}.p99_ms", times[197])
            c.set_tag(rid, f"loopml.v{version}.latency_badge", "measured on target")
        except Exception as e:
            log.info("could not report the measurement: %s", e)

    # ---- inference log upload --------------------------------------------------------------
    def _run_id(self) -> str:
        rid = self.state.get("run_id")
        if not rid:
            c = self.client()
            exp = c.get_or_create_experiment(EXPERIMENT)
            rid = c.create_run(exp.experiment_id, run_name=f"{self.deployment}-{self.agent_id}",
                               tags={"loopml.kind": "edge-agent",
                                     "loopml.deployment": self.deployment,
                                     "loopml.agent": self.agent_id}).info.run_id
            self.state["run_id"] = rid
            self._save_state()
        return str(rid)

    def upload_once(self) -> int:
        """Upload closed spool segments (oldest first); returns records uploaded. A failed
        upload leaves the segment for the next try."""
        sent = 0
        for seg in self.spool.rotate():
            try:
                self.client().log_artifact(self._run_id(), seg, "inference")
            except Exception as e:
                log.info("upload deferred (%s)", e)
                self.online = False
                break
            n = sum(1 for _ in seg.open("rb"))
            seg.unlink()
            sent += n
        self.counters["uploaded"] += sent
        return sent

    # ---- loops -----------------------------------------------------------------------------
    def _loop(self, fn: Any, every: float) -> None:
        while not self._stop.is_set():
            try:
                fn()
            except Exception as e:  # the loops must outlive any one failure
                log.warning("%s failed: %s", getattr(fn, "__name__", fn), e)
            self._stop.wait(every)

    def start_background(self) -> None:
        for fn, every in ((self.poll_once, self.poll_s), (self.upload_once, self.upload_s)):
            threading.Thread(target=self._loop, args=(fn, every), daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def run(self, host: str = "127.0.0.1", port: int = 8090) -> None:
        """Poll, upload and serve until interrupted (uvicorn handles SIGTERM/SIGINT)."""
        import uvicorn

        from loopml.edge._app import create_agent_app

        self.start_background()
        try:
            uvicorn.run(create_agent_app(self), host=host, port=port, log_level="warning")
        finally:
            self.stop()
            self.upload_once()


def _example(served: Any) -> Any:
    """The model's saved input example (rows), or None."""
    import pandas as pd

    meta = served.model.meta
    info = meta.saved_input_example_info or {}
    path = Path(served.folder) / str(info.get("artifact_path", "input_example.json"))
    if not path.is_file():
        return None
    raw = json.loads(path.read_text())
    if info.get("type") == "dataframe":
        return pd.DataFrame(raw["data"], columns=raw["columns"])
    import numpy as np

    return np.asarray(raw["inputs"] if isinstance(raw, dict) else raw)


__all__ = ["EXPERIMENT", "EdgeAgent", "LogSpool"]
