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
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
# Variables that would make a model server import or run other code, or change loopml's own
# configuration: a deployer must not reach the server's process through them.
_ENV_DENIED_PREFIXES = ("LD_", "DYLD_", "PYTHON", "LOOPML_", "MLFLOW_")
_ENV_DENIED = frozenset({"PATH", "HOME"})
MAX_REPLICAS = 1000
MAX_ENV = 100


def validate_env(name: str, env: Any) -> dict[str, str]:
    """A deployment's ``env``: at most ``MAX_ENV`` variables named like ``[A-Za-z_][A-Za-z0-9_]*``
    (not ``LD_*``, ``DYLD_*``, ``PYTHON*``, ``LOOPML_*``, ``MLFLOW_*``, ``PATH``, ``HOME``),
    string values of at most 8192 characters whose ``${secret:NAME}`` references are well
    formed. Raises ``InvalidParameterValue`` naming the variable."""
    from loopml.security.secrets import parse_refs

    if env is None:
        return {}
    if not isinstance(env, dict) or len(env) > MAX_ENV:
        raise InvalidParameterValue(
            f"Deployment {name!r}: env must be an object of at most {MAX_ENV} "
            "{NAME: value} pairs.")
    for k, v in env.items():
        if not isinstance(k, str) or not _ENV_NAME.match(k):
            raise InvalidParameterValue(
                f"Deployment {name!r}: env variable name {k!r} must be letters, digits and "
                "'_', not starting with a digit.")
        if k in _ENV_DENIED or k.upper().startswith(_ENV_DENIED_PREFIXES):
            raise InvalidParameterValue(
                f"Deployment {name!r}: env variable {k!r} is not allowed (it would change "
                "what the model server imports or runs, or loopml's own settings).")
        if not isinstance(v, str) or len(v) > 8192:
            raise InvalidParameterValue(
                f"Deployment {name!r}: env variable {k!r} must be a string of at most 8192 "
                "characters; put a secret there as ${secret:NAME}.")
        parse_refs(v)  # a malformed reference fails now, not when a server starts
    return dict(env)


def validate_replicas(name: str, replicas: Any) -> int:
    if type(replicas) is not int or not 1 <= replicas <= MAX_REPLICAS:
        raise InvalidParameterValue(
            f"Deployment {name!r}: replicas must be an integer from 1 to {MAX_REPLICAS}. "
            f"Got {replicas!r}.")
    return replicas


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
                          sticky_header: str | None = None, replicas: int = 1,
                          env: dict[str, str] | None = None) -> Deployment:
        """``replicas`` counts against the workspace's replicas quota; ``env`` values may
        hold ``${secret:NAME}`` references, stored as written and resolved by ``loopml
        serve`` (``validate_env`` says what is allowed)."""

    @abc.abstractmethod
    def update_deployment(self, name: str, routes: list[TrafficRoute] | None = None,
                          shadow: list[str] | None = None,
                          sticky_header: str | None = None, replicas: int | None = None,
                          env: dict[str, str] | None = None) -> Deployment:
        """Replace the given parts of the spec (None keeps the current value)."""

    @abc.abstractmethod
    def get_deployment(self, name: str) -> Deployment: ...

    @abc.abstractmethod
    def list_deployments(self) -> list[Deployment]: ...

    @abc.abstractmethod
    def delete_deployment(self, name: str) -> None: ...
