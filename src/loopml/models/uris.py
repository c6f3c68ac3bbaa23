"""Model URIs -> a local model folder.

    models:/<name>/<version>     a registered version
    models:/<name>@<alias>       the version an alias points at (e.g. champion)
    models:/<name>/<stage>       the newest version in a legacy stage (Production, ...)
    models:/<name>/latest        the newest version
    models:/<model_id>           an MLflow 3 logged model
    runs:/<run_id>/<path>        files logged under a run (or the run's logged model <path>)
    /a/path, file:///a/path      a model folder on disk

A registered version's trust mark travels with the result: it is the registry, not the
model's own files, that can say "this version's pickles may be loaded".
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from loopml.entities import ModelVersion, Stage
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
from loopml.tracking._client import TrackingClient


@dataclass(frozen=True)
class ResolvedModel:
    uri: str
    folder: Path
    version: ModelVersion | None = None

    @property
    def trusted(self) -> bool:
        return bool(self.version and self.version.trusted)


def _registry(client: TrackingClient):  # type: ignore[no-untyped-def]
    from loopml.store import get_registry_store

    return get_registry_store(client.store)


def parse_models_uri(uri: str) -> tuple[str, str | None, str | None]:
    """models:/... -> (name or model id, version-or-stage or None, alias or None)."""
    ref = uri[len("models:/"):].strip("/")
    if not ref:
        raise InvalidParameterValue(f"Empty model URI {uri!r}. Use models:/<name>/<version>.")
    if "@" in ref:
        name, _, alias = ref.rpartition("@")
        if not name or not alias or "/" in name:
            raise InvalidParameterValue(f"Invalid model URI {uri!r}. Use models:/<name>@<alias>.")
        return name, None, alias
    name, _, ver = ref.partition("/")
    if "/" in ver:
        raise InvalidParameterValue(f"Invalid model URI {uri!r}. Use models:/<name>/<version>.")
    return name, ver or None, None


def resolve_version(uri: str, client: TrackingClient) -> ModelVersion | None:
    """The registered version a models:/ URI names (None for a logged-model id)."""
    name, ver, alias = parse_models_uri(uri)
    reg = _registry(client)
    if alias:
        return reg.get_model_version_by_alias(name, alias)
    if ver is None:
        return None
    if ver.isdigit():
        return reg.get_model_version(name, ver)
    if ver.lower() == "latest":
        versions = reg.get_latest_versions(name)
    else:
        try:
            stage = Stage.parse(ver)
        except ValueError:
            raise InvalidParameterValue(
                f"Invalid model URI {uri!r}: {ver!r} is not a version number, a stage or "
                "'latest'.") from None
        versions = reg.get_latest_versions(name, [stage.value])
    if not versions:
        raise ResourceDoesNotExist(f"Registered model {name!r} has no version for {ver!r}.")
    return max(versions, key=lambda v: v.version)


def _download(client: TrackingClient, location: str, sub: str = "") -> Path:
    if location.startswith("file://"):
        location = urlsplit(location).path
    if location.startswith("/") and Path(location, sub).is_dir():
        return Path(location, sub)
    dst = Path(tempfile.mkdtemp(prefix="loopml-model-"))
    return client.artifact_store(location).get_dir(sub, dst)


def resolve(uri: str, client: TrackingClient | None = None) -> ResolvedModel:
    if not isinstance(uri, str) or not uri:
        raise InvalidParameterValue(f"Invalid model URI {uri!r}.")
    if uri.startswith("models:/"):
        client = client or _default_client()
        name, ver, alias = parse_models_uri(uri)
        if ver is None and alias is None:  # models:/<model_id>
            model = client.store.get_logged_model(name)
            return ResolvedModel(uri, _download(client, model.artifact_location))
        mv = resolve_version(uri, client)
        assert mv is not None
        return ResolvedModel(uri, _download(client, mv.storage_location), mv)
    if uri.startswith("runs:/"):
        client = client or _default_client()
        from loopml.registry.sources import resolve_source

        src = resolve_source(uri, None, client.store, _registry(client), [])
        return ResolvedModel(uri, _download(client, src.storage_location))
    path = Path(urlsplit(uri).path if uri.startswith("file://") else uri)
    if not path.is_dir():
        raise InvalidParameterValue(
            f"Model URI {uri!r} is neither a models:/ or runs:/ URI nor an existing folder.")
    return ResolvedModel(uri, path)


def _default_client() -> TrackingClient:
    from loopml.tracking._fluent import client

    return client()
