"""Pipeline runs, steps, cache and triggers over a loopml server's ``/api/loopml/v1`` API."""

from __future__ import annotations

from typing import Any

from loopml.store.pipelines_base import PipelineRun, PipelineStore, StepRun, Trigger
from loopml.store.rest import RestStore

_API = "/api/loopml/v1/pipelines"


def _step(d: dict[str, Any]) -> StepRun:
    return StepRun(**{k: v for k, v in d.items() if k != "duration_ms"})


class RestPipelineStore(PipelineStore):
    def __init__(self, tracking: RestStore) -> None:
        self._rest = tracking

    def create_run(self, run: PipelineRun) -> PipelineRun:
        return PipelineRun(**self._rest._call("POST", f"{_API}/runs/create", run.to_dict())["run"])

    def update_run(self, run_id: str, **fields: Any) -> PipelineRun:
        d = self._rest._call("PATCH", f"{_API}/runs/{run_id}", {"fields": fields})
        return PipelineRun(**d["run"])

    def get_run(self, run_id: str) -> PipelineRun:
        return PipelineRun(**self._rest._call("GET", f"{_API}/runs/{run_id}")["run"])

    def list_runs(self, pipeline: str | None = None, status: str | None = None,
                  limit: int = 100) -> list[PipelineRun]:
        d = self._rest._call("GET", f"{_API}/runs",
                             {"pipeline": pipeline, "status": status, "limit": limit})
        return [PipelineRun(**r) for r in d["runs"]]

    def put_step(self, step: StepRun) -> None:
        body = {k: v for k, v in step.to_dict().items() if k != "duration_ms"}
        self._rest._call("POST", f"{_API}/runs/{step.run_id}/steps", body)

    def get_steps(self, run_id: str) -> list[StepRun]:
        return [_step(s) for s in self._rest._call("GET", f"{_API}/runs/{run_id}")["steps"]]

    def cache_get(self, key: str) -> tuple[str, dict[str, Any]] | None:
        d = self._rest._call("GET", f"{_API}/cache/{key}")
        return (d["run_id"], d["outputs"]) if d.get("run_id") else None

    def cache_put(self, key: str, run_id: str, step: str, outputs: dict[str, Any]) -> None:
        self._rest._call("POST", f"{_API}/cache/{key}",
                         {"run_id": run_id, "step": step, "outputs": outputs})

    def cache_delete(self, key: str) -> None:
        self._rest._call("DELETE", f"{_API}/cache/{key}")

    def create_trigger(self, trigger: Trigger) -> Trigger:
        return Trigger(**self._rest._call("POST", f"{_API}/triggers", trigger.to_dict())["trigger"])

    def list_triggers(self) -> list[Trigger]:
        return [Trigger(**x) for x in self._rest._call("GET", f"{_API}/triggers")["triggers"]]

    def delete_trigger(self, name: str) -> None:
        self._rest._call("DELETE", f"{_API}/triggers/{name}")

    def fire_trigger(self, name: str, expected_marker: int, new_marker: int,
                     run: PipelineRun | None) -> bool:
        d = self._rest._call("POST", f"{_API}/triggers/{name}/fire", {
            "expected_marker": expected_marker, "new_marker": new_marker,
            "run": run.to_dict() if run else None})
        return bool(d["fired"])
