"""``RestStore``: the TrackingStore interface over a loopml server's REST API (the MLflow API
plus ``/api/loopml/v1``). Error bodies are mapped back to the same exception classes the SQL
store raises, so callers cannot tell which backend they talk to."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import orjson

from loopml._json import float_from_json, float_to_json
from loopml.entities import (
    Dataset,
    DatasetInput,
    Event,
    Experiment,
    InputTag,
    LoggedModel,
    LoggedModelOutput,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunTag,
    ViewType,
)
from loopml.errors import LoopmlError, ServiceUnavailable, error_from_code
from loopml.security.workspaces import WORKSPACE_HEADER, current_workspace
from loopml.store.base import TrackingStore

_API = "/api/2.0/mlflow"
_LOOPML = "/api/loopml/v1"
def _kv(items: list[dict[str, Any]] | None) -> dict[str, str]:
    return {x["key"]: x.get("value", "") for x in items or []}


def _metric(d: dict[str, Any]) -> Metric:
    return Metric(d["key"], float_from_json(d.get("value", 0.0)), int(d.get("timestamp", 0)),
                  int(d.get("step", 0)), d.get("run_id"))


def _experiment(d: dict[str, Any]) -> Experiment:
    return Experiment(
        d["experiment_id"], d["name"], d.get("artifact_location", ""),
        d.get("lifecycle_stage", "active"), _kv(d.get("tags")), d.get("creation_time"),
        d.get("last_update_time"),
    )


def _run_info(i: dict[str, Any]) -> RunInfo:
    return RunInfo(
        i.get("run_id") or i["run_uuid"], i["experiment_id"], i.get("run_name", ""),
        i.get("user_id", ""), i.get("status", "RUNNING"), i.get("start_time"), i.get("end_time"),
        i.get("artifact_uri", ""), i.get("lifecycle_stage", "active"),
    )


def _run(d: dict[str, Any]) -> Run:
    data, inputs, outputs = d.get("data", {}), d.get("inputs", {}), d.get("outputs", {})
    return Run(
        info=_run_info(d["info"]),
        data=RunData(
            {m["key"]: _metric(m) for m in data.get("metrics", [])},
            _kv(data.get("params")), _kv(data.get("tags")),
        ),
        inputs=RunInputs(
            tuple(
                DatasetInput(
                    Dataset(x["dataset"]["name"], x["dataset"]["digest"],
                            x["dataset"]["source_type"], x["dataset"]["source"],
                            x["dataset"].get("schema"), x["dataset"].get("profile")),
                    tuple(InputTag(t["key"], t["value"]) for t in x.get("tags", [])),
                )
                for x in inputs.get("dataset_inputs", [])
            ),
            tuple(m["model_id"] for m in inputs.get("model_inputs", [])),
        ),
        outputs=RunOutputs(
            tuple(LoggedModelOutput(m["model_id"], int(m.get("step", 0)))
                  for m in outputs.get("model_outputs", []))
        ),
    )


def _logged_model(d: dict[str, Any]) -> LoggedModel:
    i, data = d["info"], d.get("data", {})
    return LoggedModel(
        model_id=i["model_id"], experiment_id=i["experiment_id"], name=i.get("name", ""),
        artifact_location=i.get("artifact_uri", ""),
        creation_timestamp=int(i.get("creation_timestamp_ms", 0)),
        last_updated_timestamp=int(i.get("last_updated_timestamp_ms", 0)),
        status=i.get("status", "LOGGED_MODEL_PENDING"), status_message=i.get("status_message"),
        model_type=i.get("model_type"), source_run_id=i.get("source_run_id"),
        tags=_kv(i.get("tags")), params=_kv(data.get("params")),
        metrics=tuple(_metric(m) for m in data.get("metrics", [])),
    )


class RestStore(TrackingStore):
    def __init__(self, uri: str, token: str | None = None, timeout: float = 60.0) -> None:
        self.uri = uri.rstrip("/")
        import os

        from loopml.config import load_settings

        token = token or load_settings().tracking_token or os.environ.get("MLFLOW_TRACKING_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.uri, headers=headers, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None,
              workspace: str | None = None) -> dict[str, Any]:
        # The workspace travels the way the mlflow client sends it (mlflow.set_workspace).
        ws = {WORKSPACE_HEADER: workspace or current_workspace()}
        try:
            if method == "GET":
                params = {k: v for k, v in (body or {}).items() if v is not None}
                resp = self.http.request(method, path, params=params, headers=ws)
            else:
                resp = self.http.request(
                    method, path, content=orjson.dumps(body or {}),
                    headers={"Content-Type": "application/json", **ws},
                )
        except httpx.TransportError as e:
            raise ServiceUnavailable(f"Cannot reach the loopml server at {self.uri}: {e}") from e
        if resp.status_code >= 400:
            try:
                err = resp.json()
                raise error_from_code(err.get("error_code", "INTERNAL_ERROR"), err.get("message", resp.text))
            except (ValueError, AttributeError):
                raise LoopmlError(f"HTTP {resp.status_code} from {path}: {resp.text[:200]}") from None
        return resp.json() if resp.content else {}  # type: ignore[no-any-return]

    # ---- experiments -------------------------------------------------------------------
    def create_experiment(self, name: str, artifact_location: str | None = None,
                          tags: dict[str, str] | None = None, workspace: str | None = None) -> str:
        body: dict[str, Any] = {"name": name, "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
        if artifact_location:
            body["artifact_location"] = artifact_location
        return str(self._call("POST", f"{_API}/experiments/create", body,
                              workspace)["experiment_id"])

    def get_experiment(self, experiment_id: str) -> Experiment:
        return _experiment(self._call("GET", f"{_API}/experiments/get", {"experiment_id": experiment_id})["experiment"])

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        from loopml.errors import ResourceDoesNotExist

        try:
            d = self._call("GET", f"{_API}/experiments/get-by-name", {"experiment_name": name})
        except ResourceDoesNotExist:
            return None
        return _experiment(d["experiment"])

    def search_experiments(self, view_type: ViewType = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                           filter_string: str | None = None, order_by: Sequence[str] | None = None,
                           page_token: str | None = None) -> PagedList[Experiment]:
        d = self._call("POST", f"{_API}/experiments/search", {
            "view_type": ViewType.parse(view_type).name, "max_results": max_results,
            "filter": filter_string, "order_by": list(order_by or []), "page_token": page_token,
        })
        return PagedList([_experiment(e) for e in d.get("experiments", [])], d.get("next_page_token"))

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        self._call("POST", f"{_API}/experiments/update", {"experiment_id": experiment_id, "new_name": new_name})

    def delete_experiment(self, experiment_id: str) -> None:
        self._call("POST", f"{_API}/experiments/delete", {"experiment_id": experiment_id})

    def restore_experiment(self, experiment_id: str) -> None:
        self._call("POST", f"{_API}/experiments/restore", {"experiment_id": experiment_id})

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call("POST", f"{_API}/experiments/set-experiment-tag",
                   {"experiment_id": experiment_id, "key": key, "value": value})

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        self._call("POST", f"{_API}/experiments/delete-experiment-tag",
                   {"experiment_id": experiment_id, "key": key})

    # ---- runs ----------------------------------------------------------------------------
    def create_run(self, experiment_id: str, user_id: str = "", start_time: int | None = None,
                   tags: Sequence[RunTag] = (), run_name: str | None = None) -> Run:
        return _run(self._call("POST", f"{_API}/runs/create", {
            "experiment_id": experiment_id, "user_id": user_id, "start_time": start_time,
            "tags": [{"key": t.key, "value": t.value} for t in tags], "run_name": run_name,
        })["run"])

    def get_run(self, run_id: str) -> Run:
        return _run(self._call("GET", f"{_API}/runs/get", {"run_id": run_id})["run"])

    def update_run_info(self, run_id: str, status: str | None = None, end_time: int | None = None,
                        run_name: str | None = None) -> RunInfo:
        return _run_info(self._call("POST", f"{_API}/runs/update", {
            "run_id": run_id, "status": status, "end_time": end_time, "run_name": run_name,
        })["run_info"])

    def delete_run(self, run_id: str) -> None:
        self._call("POST", f"{_API}/runs/delete", {"run_id": run_id})

    def restore_run(self, run_id: str) -> None:
        self._call("POST", f"{_API}/runs/restore", {"run_id": run_id})

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = ()) -> None:
        self._call("POST", f"{_API}/runs/log-batch", {
            "run_id": run_id,
            "metrics": [{"key": m.key, "value": float_to_json(m.value), "timestamp": m.timestamp,
                         "step": m.step} for m in metrics],
            "params": [{"key": p.key, "value": p.value} for p in params],
            "tags": [{"key": t.key, "value": t.value} for t in tags],
        })

    def delete_tag(self, run_id: str, key: str) -> None:
        self._call("POST", f"{_API}/runs/delete-tag", {"run_id": run_id, "key": key})

    def get_metric_history(self, run_id: str, metric_key: str, max_results: int | None = None,
                           page_token: str | None = None) -> PagedList[Metric]:
        d = self._call("GET", f"{_API}/metrics/get-history", {
            "run_id": run_id, "metric_key": metric_key, "max_results": max_results,
            "page_token": page_token,
        })
        return PagedList([_metric(m) for m in d.get("metrics", [])], d.get("next_page_token"))

    def get_metric_history_bulk_interval(self, run_ids: Sequence[str], metric_key: str,
                                         max_results: int, start_step: int | None = None,
                                         end_step: int | None = None) -> list[Metric]:
        d = self._call("GET", f"{_API}/metrics/get-history-bulk-interval", {
            "run_ids": list(run_ids), "metric_key": metric_key, "max_results": max_results,
            "start_step": start_step, "end_step": end_step,
        })
        return [_metric(m) for m in d.get("metrics", [])]

    def search_runs(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                    run_view_type: ViewType = ViewType.ACTIVE_ONLY, max_results: int = 1000,
                    order_by: Sequence[str] | None = None, page_token: str | None = None) -> PagedList[Run]:
        d = self._call("POST", f"{_API}/runs/search", {
            "experiment_ids": list(experiment_ids), "filter": filter_string,
            "run_view_type": ViewType.parse(run_view_type).name, "max_results": max_results,
            "order_by": list(order_by or []), "page_token": page_token,
        })
        return PagedList([_run(r) for r in d.get("runs", [])], d.get("next_page_token"))

    def log_inputs(self, run_id: str, datasets: Sequence[DatasetInput] = (),
                   model_ids: Sequence[str] = ()) -> None:
        self._call("POST", f"{_API}/runs/log-inputs", {
            "run_id": run_id,
            "datasets": [{
                "tags": [{"key": t.key, "value": t.value} for t in d.tags],
                "dataset": {k: v for k, v in vars(d.dataset).items() if v is not None},
            } for d in datasets],
            "models": [{"model_id": m} for m in model_ids],
        })

    def log_outputs(self, run_id: str, models: Sequence[LoggedModelOutput]) -> None:
        self._call("POST", f"{_API}/runs/outputs", {
            "run_id": run_id, "models": [{"model_id": m.model_id, "step": m.step} for m in models],
        })

    # ---- gc --------------------------------------------------------------------------------
    def list_deleted_run_ids(self, older_than_ms: int | None = None) -> list[str]:
        return list(self._call("GET", f"{_LOOPML}/gc/deleted-runs", {"older_than_ms": older_than_ms})["run_ids"])

    def permanently_delete_run(self, run_id: str) -> str:
        return str(self._call("POST", f"{_LOOPML}/gc/purge-run", {"run_id": run_id})["artifact_uri"])

    # ---- logged models -------------------------------------------------------------------
    def create_logged_model(self, experiment_id: str, name: str | None = None,
                            source_run_id: str | None = None, tags: dict[str, str] | None = None,
                            params: dict[str, str] | None = None, model_type: str | None = None) -> LoggedModel:
        return _logged_model(self._call("POST", f"{_API}/logged-models", {
            "experiment_id": experiment_id, "name": name, "source_run_id": source_run_id,
            "model_type": model_type,
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            "params": [{"key": k, "value": v} for k, v in (params or {}).items()],
        })["model"])

    def get_logged_model(self, model_id: str) -> LoggedModel:
        return _logged_model(self._call("GET", f"{_API}/logged-models/{model_id}")["model"])

    def finalize_logged_model(self, model_id: str, status: str) -> LoggedModel:
        return _logged_model(self._call("PATCH", f"{_API}/logged-models/{model_id}", {"status": status})["model"])

    def set_logged_model_tags(self, model_id: str, tags: dict[str, str]) -> None:
        self._call("PATCH", f"{_API}/logged-models/{model_id}/tags",
                   {"tags": [{"key": k, "value": v} for k, v in tags.items()]})

    def delete_logged_model_tag(self, model_id: str, key: str) -> None:
        self._call("DELETE", f"{_API}/logged-models/{model_id}/tags/{key}")

    def log_logged_model_params(self, model_id: str, params: dict[str, str]) -> None:
        self._call("POST", f"{_API}/logged-models/{model_id}/params",
                   {"params": [{"key": k, "value": v} for k, v in params.items()]})

    def log_logged_model_metrics(self, model_id: str, run_id: str, metrics: Sequence[Metric],
                                 dataset_name: str | None = None,
                                 dataset_digest: str | None = None) -> None:
        # MLflow's wire form: run metrics that carry a model_id (the run copies are no-ops).
        extra = {"model_id": model_id, **({"dataset_name": dataset_name} if dataset_name else {}),
                 **({"dataset_digest": dataset_digest} if dataset_digest else {})}
        self._call("POST", f"{_API}/runs/log-batch", {"run_id": run_id, "metrics": [
            {"key": m.key, "value": float_to_json(m.value), "timestamp": m.timestamp,
             "step": m.step, **extra} for m in metrics]})

    def delete_logged_model(self, model_id: str) -> None:
        self._call("DELETE", f"{_API}/logged-models/{model_id}")

    def search_logged_models(self, experiment_ids: Sequence[str], filter_string: str | None = None,
                             max_results: int = 100, order_by: Sequence[dict[str, Any]] | None = None,
                             page_token: str | None = None) -> PagedList[LoggedModel]:
        d = self._call("POST", f"{_API}/logged-models/search", {
            "experiment_ids": list(experiment_ids), "filter": filter_string,
            "max_results": max_results, "order_by": list(order_by or []), "page_token": page_token,
        })
        return PagedList([_logged_model(m) for m in d.get("models", [])], d.get("next_page_token"))

    # ---- events ----------------------------------------------------------------------------
    def append_event(self, type: str, subject: str, payload: dict[str, Any] | None = None,
                     workspace: str = "default") -> int:
        return int(self._call("POST", f"{_LOOPML}/events",
                              {"type": type, "subject": subject, "payload": payload or {}})["seq"])

    def read_events(self, after_seq: int = 0, types: Sequence[str] | None = None,
                    limit: int = 1000) -> list[Event]:
        d = self._call("GET", f"{_LOOPML}/events",
                       {"after_seq": after_seq, "types": list(types or []) or None, "limit": limit})
        return [Event(e["seq"], e["type"], e["subject"], e.get("payload") or {}, e.get("time", 0),
                      e.get("workspace", "default"), e.get("actor"), e.get("actor_kind"))
                for e in d.get("events", [])]
