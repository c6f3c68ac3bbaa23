"""``log_model`` and ``register_model``: a model into a run's artifacts and the registry."""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loopml.entities import ModelVersion
from loopml.errors import ResourceAlreadyExists
from loopml.models._save import check_model_name, save_model
from loopml.models.signature import ModelSignature
from loopml.tracking._client import TrackingClient


@dataclass(frozen=True)
class ModelInfo:
    model_uri: str  # runs:/<run_id>/<name>
    run_id: str
    artifact_path: str
    flavors: tuple[str, ...]
    registered_version: ModelVersion | None = None


def _client() -> TrackingClient:
    from loopml.tracking._fluent import client

    return client()


def register_model(model_uri: str, name: str, tags: dict[str, str] | None = None,
                   client: TrackingClient | None = None) -> ModelVersion:
    """Create (if needed) registered model ``name`` and add ``model_uri`` as a new version.

    Embedded stores confine the source here; a server does it again on its side.
    """
    from loopml.registry.sources import resolve_source
    from loopml.store import get_registry_store
    from loopml.store.rest import RestStore

    client = client or _client()
    reg = get_registry_store(client.store)
    with contextlib.suppress(ResourceAlreadyExists):
        reg.create_registered_model(name)
    if isinstance(client.store, RestStore):
        return reg.create_model_version(name, model_uri, tags=tags)
    src = resolve_source(model_uri, None, client.store, reg, [])
    return reg.create_model_version(name, model_uri, src.storage_location, src.run_id, tags,
                                    model_id=src.model_id)


def log_model(
    model: Any,
    name: str = "model",
    *,
    run_id: str | None = None,
    registered_model_name: str | None = None,
    signature: ModelSignature | None = None,
    input_example: Any = None,
    serialization_format: str | None = None,
    flavor: str | None = None,
    background: Any = None,
    client: TrackingClient | None = None,
) -> ModelInfo:
    """Save ``model`` under the active run (or ``run_id``) at ``<name>/``; optionally register.

    ``background``: a sample of the training data for SHAP explanations (``save_model``); a
    tree model's global importance is computed from it now and logged with the model.

    The folder is MLflow's format: ``mlflow.pyfunc.load_model("runs:/<run>/<name>")`` works.
    ``client``: the TrackingClient to log and register through (library code passes its
    own; default: the fluent API's client).
    """
    from loopml.tracking._fluent import _run_id

    check_model_name(name)
    client = client or _client()
    rid = run_id or _run_id()
    with tempfile.TemporaryDirectory(prefix="loopml-log-") as tmp:
        folder = Path(tmp) / name
        meta = save_model(model, folder, signature=signature, input_example=input_example,
                          serialization_format=serialization_format, flavor=flavor,
                          run_id=rid, artifact_path=name, background=background)
        client.log_artifacts(rid, folder, name)
    uri = f"runs:/{rid}/{name}"
    version = register_model(uri, registered_model_name, client=client) \
        if registered_model_name else None
    return ModelInfo(uri, rid, name, tuple(meta.flavors), version)
