"""The deployment store interface: named traffic specs that serving applies live.

Backends: ``deployments_sql.py`` (the tracking database) and ``deployments_rest.py`` (a
loopml server). Every change bumps ``revision`` and appends a ``deployment.updated`` event.
"""

from __future__ import annotations

import abc
import re
from typing import Any

from loopml.entities import Deployment, TrafficRoute
from loopml.errors import InvalidParameterValue

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_HEADER = re.compile(r"^[A-Za-z0-9\-]{1,64}$")


def validate_spec(name: str, routes: list[TrafficRoute], shadow: list[str],
                  sticky_header: str | None) -> None:
    """Shared by every backend, so a bad spec gets the same 400 everywhere."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidParameterValue(
            f"Invalid deployment name {name!r}: use letters, digits, '_', '-', '.' (it is the "
            "model name clients call: /v2/models/<name>/infer).")
    if not routes:
        raise InvalidParameterValue(
            f"Deployment {name!r} needs at least one route, e.g. models:/fraud/3=100.")
    for r in routes:
        if not isinstance(r.model_uri, str) or not r.model_uri:
            raise InvalidParameterValue(f"Deployment {name!r}: a route has no model URI.")
        if not isinstance(r.weight, int | float) or r.weight < 0 or r.weight != r.weight:
            raise InvalidParameterValue(
                f"Deployment {name!r}: weight {r.weight!r} of {r.model_uri} must be a "
                "non-negative number.")
    total = sum(r.weight for r in routes)
    if abs(total - 100) > 1e-6:
        # Weights are percentages: a sum other than 100 was silently rescaled before, so
        # '50 + 20' served 71% / 29% instead of what was written.
        shown = " + ".join(f"{r.weight:g}" for r in routes)
        raise InvalidParameterValue(
            f"Deployment {name!r}: route weights are percentages and must sum to 100; "
            f"{shown} = {total:g}.")
    uris = [r.model_uri for r in routes]
    if len(set(uris)) != len(uris):
        raise InvalidParameterValue(f"Deployment {name!r}: a model URI appears in two routes.")
    if set(shadow) & set(uris):
        raise InvalidParameterValue(f"Deployment {name!r}: a shadow model is also routed.")
    if sticky_header is not None and not _HEADER.match(sticky_header):
        raise InvalidParameterValue(f"Deployment {name!r}: invalid sticky header "
                                    f"{sticky_header!r}.")


def check_models_exist(registry: Any, where: str, uris: list[str]) -> None:
    """Refuse routes and shadows naming a registered version (``models:/NAME/VERSION``,
    ``@alias``, ``/latest`` or a stage) that does not exist: serving would refuse the
    revision. Other URIs (folders, runs:/) are resolved by the server that loads them."""
    from loopml.errors import ResourceDoesNotExist
    from loopml.models.uris import parse_models_uri

    for uri in uris:
        if not uri.startswith("models:/"):
            continue
        model, ver, alias = parse_models_uri(uri)
        try:
            if alias:
                registry.get_model_version_by_alias(model, alias)
            elif ver is not None and ver.isdigit():
                registry.get_model_version(model, ver)
            elif ver is not None and not registry.get_latest_versions(
                    model, None if ver.lower() == "latest" else [ver.capitalize()]):
                raise ResourceDoesNotExist(f"Registered model {model!r} has no {ver} version.")
        except ResourceDoesNotExist as e:
            raise InvalidParameterValue(f"{where}: {uri} does not exist ({e.message}), so "
                                        "servers could not load it; register it first.") from None


class DeploymentStore(abc.ABC):
    @abc.abstractmethod
    def create_deployment(self, name: str, routes: list[TrafficRoute], shadow: list[str] | None = None,
                          sticky_header: str | None = None) -> Deployment: ...

    @abc.abstractmethod
    def update_deployment(self, name: str, routes: list[TrafficRoute] | None = None,
                          shadow: list[str] | None = None,
                          sticky_header: str | None = None) -> Deployment:
        """Replace the given parts of the spec (None keeps the current value)."""

    @abc.abstractmethod
    def get_deployment(self, name: str) -> Deployment: ...

    @abc.abstractmethod
    def list_deployments(self) -> list[Deployment]: ...

    @abc.abstractmethod
    def delete_deployment(self, name: str) -> None: ...
