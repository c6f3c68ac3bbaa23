"""Builds started from the dashboard: an uploaded file is checked at once (errors go back to
the form), then ``build`` runs on a background thread of the server process while the
progress page reads ``progress.json`` from the build's folder.

Layout: ``<root>/<build_id>/data.csv|data.parquet`` (the upload), ``request.json``,
``progress.json`` (stage, trials, best score so far, budget end, and at the end the
result or the error), ``monitors.yaml``, ``policies.yaml``, ``holdout.parquet``.
A build id is 16 hex digits; nothing else is accepted as a folder name.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.automl.checks import TASKS, BuildInputError

_ID = re.compile(r"^[0-9a-f]{16}$")
SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True)
class BuildRequest:
    """What the form asks for; ``validate`` raises ``BuildInputError`` naming the field."""

    filename: str
    target_column: str
    task: str = "auto"
    target: str = "probe"
    p99_ms: float | None = None
    budget_s: float = 60.0
    name: str = ""

    @classmethod
    def from_form(cls, f: dict[str, str], filename: str) -> BuildRequest:
        def num(key: str, default: float | None) -> float | None:
            raw = f.get(key, "").strip()
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise BuildInputError(f"{key}: {raw!r} is not a number.") from None

        budget = num("budget_s", 60.0)
        req = cls(filename=filename, target_column=f.get("target_column", "").strip(),
                  task=f.get("task", "auto").strip() or "auto",
                  target=f.get("target", "").strip() or "probe", p99_ms=num("p99_ms", None),
                  budget_s=60.0 if budget is None else budget,
                  name=f.get("name", "").strip())
        req.validate()
        return req

    def validate(self) -> None:
        if not self.filename.lower().endswith(SUFFIXES):
            raise BuildInputError("Upload a .csv or .parquet file.")
        if not self.target_column:
            raise BuildInputError("target_column: name the column to predict.")
        if self.task not in TASKS:
            raise BuildInputError(f"task: must be one of {', '.join(TASKS)}.")
        if not 1 <= self.budget_s <= 3600:
            raise BuildInputError("budget_s: give 1 to 3600 seconds.")
        if self.p99_ms is not None and not self.p99_ms > 0:
            raise BuildInputError("p99_ms: must be a positive number of milliseconds.")


def build_dir(root: Path, build_id: str) -> Path:
    """The folder of ``build_id``; ``BuildInputError`` for anything but a build id."""
    if not _ID.match(build_id):
        raise BuildInputError(f"{build_id!r} is not a build id.")
    return root / build_id


def read_progress(root: Path, build_id: str) -> dict[str, Any]:
    """The build's progress record plus ``time_left_s`` while the search runs."""
    from loopml.errors import ResourceDoesNotExist

    p = build_dir(root, build_id) / "progress.json"
    if not p.is_file():
        raise ResourceDoesNotExist(f"No build {build_id}.")
    try:
        d: dict[str, Any] = json.loads(p.read_text())
    except ValueError:  # being replaced right now: the next refresh reads it
        d = {"stage": "starting"}
    ends = d.get("ends_at")
    d["time_left_s"] = max(0.0, ends - time.time()) if ends and d.get("stage") == "automl" \
        else None
    return d


def start(root: Path, req: BuildRequest, content: bytes, client: Any,
          on_done: Callable[[Any], None] | None = None) -> str:
    """Check the upload synchronously (``BuildInputError`` goes back to the form), then run
    the build on a daemon thread. Returns the build id."""
    from loopml.automl._build import _default_name, build
    from loopml.automl.checks import inspect_frame
    from loopml.automl.flow import _progress
    from loopml.automl.sources import load

    build_id = uuid.uuid4().hex[:16]
    wd = build_dir(root, build_id)
    wd.mkdir(parents=True)
    data = wd / ("data.parquet" if req.filename.lower().endswith(".parquet") else "data.csv")
    data.write_bytes(content)
    inspect_frame(load(str(data)), req.target_column, req.task)
    stem = Path(req.filename).stem
    name = req.name or _default_name(f"{stem}.csv", req.target_column)
    (wd / "request.json").write_text(json.dumps({**req.__dict__, "name": name}))
    _progress(str(wd), stage="queued", name=name, budget_s=req.budget_s)

    def go() -> None:
        try:
            res = build(str(data), req.target_column, task=req.task, target=req.target,
                        p99_ms=req.p99_ms, budget_s=req.budget_s, name=name, client=client,
                        workdir=wd)
            if on_done is not None:
                on_done(res)
        except Exception as e:  # noqa: BLE001 - shown on the progress page
            message = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
            _progress(str(wd), stage="failed", error=message)

    threading.Thread(target=go, name=f"build-{build_id}", daemon=True).start()
    return build_id


__all__ = ["BuildRequest", "SUFFIXES", "build_dir", "read_progress", "start"]
