"""Deployments over a loopml server's ``/api/loopml/v1/deployments`` API."""

from __future__ import annotations

from typing import Any

from loopml.entities import Deployment, TrafficRoute
from loopml.store.deployments_base import DeploymentStore
from loopml.store.rest import RestStore

_API = "/api/loopml/v1/deployments"


def _body(routes: list[TrafficRoute] | None, shadow: list[str] | None,
          sticky_header: str | None, replicas: int | None = None,
          env: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if replicas is not None:
        body["replicas"] = replicas
    if env is not None:
        body["env"] = env
    if routes is not None:
        body["routes"] = [{"model_uri": r.model_uri, "weight": r.weight} for r in routes]
    if shadow is not None:
        body["shadow"] = shadow
    if sticky_header is not None:
        body["sticky_header"] = sticky_header
    return body


class RestDeploymentStore(DeploymentStore):
    def __init__(self, tracking: RestStore) -> None:
        self._rest = tracking

    def create_deployment(self, name: str, routes: list[TrafficRoute], shadow: list[str] | None = None,
                          sticky_header: str | None = None, replicas: int = 1,
                          env: dict[str, str] | None = None) -> Deployment:
        body = {"name": name, **_body(routes, shadow or [], sticky_header, replicas, env)}
        return Deployment.from_dict(self._rest._call("POST", _API, body)["deployment"])

    def update_deployment(self, name: str, routes: list[TrafficRoute] | None = None,
                          shadow: list[str] | None = None,
                          sticky_header: str | None = None, replicas: int | None = None,
                          env: dict[str, str] | None = None) -> Deployment:
        d = self._rest._call("PATCH", f"{_API}/{name}",
                             _body(routes, shadow, sticky_header, replicas, env))
        return Deployment.from_dict(d["deployment"])

    def get_deployment(self, name: str) -> Deployment:
        return Deployment.from_dict(self._rest._call("GET", f"{_API}/{name}")["deployment"])

    def list_deployments(self) -> list[Deployment]:
        return [Deployment.from_dict(d) for d in self._rest._call("GET", _API)["deployments"]]

    def delete_deployment(self, name: str) -> None:
        self._rest._call("DELETE", f"{_API}/{name}")
