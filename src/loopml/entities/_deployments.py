"""Deployments: an endpoint name mapped to model versions with traffic weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TrafficRoute:
    model_uri: str  # e.g. models:/fraud/3 or models:/fraud@champion
    weight: float  # relative; the server normalises the routes' weights


@dataclass(frozen=True)
class Deployment:
    name: str
    routes: tuple[TrafficRoute, ...]
    shadow: tuple[str, ...] = ()  # model URIs mirrored: called, logged, never answered
    sticky_header: str | None = None  # route by a hash of this request header
    revision: int = 1
    creation_timestamp: int = 0
    last_updated_timestamp: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    # How many model-server replicas run it (counted by the workspace's replicas quota).
    replicas: int = 1
    # Environment of its model servers: values may hold ${secret:NAME} references, resolved
    # by ``loopml serve`` at start, never stored resolved (docs/security.md).
    env: dict[str, str] = field(default_factory=dict)
    workspace: str = "default"  # set by the store; where ${secret:NAME} references resolve

    def spec(self) -> dict[str, Any]:
        return {"routes": [{"model_uri": r.model_uri, "weight": r.weight} for r in self.routes],
                "shadow": list(self.shadow), "sticky_header": self.sticky_header,
                "replicas": self.replicas, "env": dict(self.env)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.spec(), "workspace": self.workspace,
                "revision": self.revision,
                "creation_timestamp": self.creation_timestamp,
                "last_updated_timestamp": self.last_updated_timestamp}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deployment:
        return cls(
            str(d["name"]),
            tuple(TrafficRoute(str(r["model_uri"]), float(r["weight"]))
                  for r in d.get("routes", [])),
            tuple(str(s) for s in d.get("shadow") or []), d.get("sticky_header") or None,
            int(d.get("revision", 1)), int(d.get("creation_timestamp", 0)),
            int(d.get("last_updated_timestamp", 0)), replicas=int(d.get("replicas", 1)),
            env={str(k): str(v) for k, v in (d.get("env") or {}).items()},
            workspace=str(d.get("workspace") or "default"))
