"""Resolve and confine a model version's ``source`` before the registry stores it.

MLflow's CVE-2023-1177 class: a version whose source points anywhere (``file:///etc``, a
``..`` path, another tenant's bucket) turns the registry's download endpoint into a file
reader. Here a source must resolve to a location inside the run's artifact root or one of the
configured artifact roots; everything else is refused with a 400 before anything is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from loopml.artifacts._paths import confine, validate_run_id
from loopml.errors import InvalidParameterValue, LoopmlError
from loopml.store.base import TrackingStore
from loopml.store.registry_base import RegistryStore

PROXY = "mlflow-artifacts:"


@dataclass(frozen=True)
class ResolvedSource:
    storage_location: str
    run_id: str | None
    model_id: str | None


def _refuse(source: str, why: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Invalid model version source {source!r}: {why}. Register a model from its run "
        "(runs:/<run_id>/<path>), a logged model (models:/<model_id>), or a location inside "
        "the run's artifact root or the server's artifact root."
    )


def _canonical(uri: str) -> str:
    """Local paths as plain absolute paths; other URIs as given, minus a trailing slash."""
    if uri.startswith("file://"):
        uri = urlsplit(uri).path
    return uri.rstrip("/") or "/"


def is_under(location: str, root: str) -> bool:
    """True when ``location`` is ``root`` or inside it, with no '..' or encoded escapes."""
    loc, base = _canonical(location), _canonical(root)
    if base == PROXY:  # the proxy scheme as a whole
        if not loc.startswith(PROXY):
            return False
        rel = loc[len(PROXY):].lstrip("/")
        if loc.startswith(PROXY + "//"):  # mlflow-artifacts://host/path: drop the host
            rel = rel.partition("/")[2]
    elif loc == base:
        return True
    elif loc.startswith(base + "/"):
        rel = loc[len(base) + 1:]
    else:
        return False
    try:
        confine(rel)  # raises on '..', encoded characters, lookalikes, control characters
    except LoopmlError:
        return False
    return True


def resolve_source(
    source: object,
    run_id: str | None,
    tracking: TrackingStore,
    registry: RegistryStore,
    allowed_roots: list[str],
) -> ResolvedSource:
    if not isinstance(source, str) or not source.strip():
        raise _refuse(repr(source), "it is empty")
    if any(ord(c) < 32 for c in source) or "?" in source or "#" in source:
        raise _refuse(source, "it contains a control character, '?' or '#'")
    if run_id:
        validate_run_id(run_id)

    if source.startswith("models:/"):
        ref = source[len("models:/"):].strip("/")
        if "/" not in ref and "@" not in ref:
            model = tracking.get_logged_model(ref)
            return ResolvedSource(model.artifact_location, run_id or model.source_run_id, ref)
        name, version = _split_model_ref(source, ref)
        mv = (registry.get_model_version_by_alias(name, version[1:]) if version.startswith("@")
              else registry.get_model_version(name, version))
        return ResolvedSource(mv.storage_location, run_id or mv.run_id, mv.model_id)

    if source.startswith("runs:/"):
        rid, _, path = source[len("runs:/"):].lstrip("/").partition("/")
        validate_run_id(rid)
        if run_id and run_id != rid:
            raise _refuse(source, f"it names run {rid} but run_id is {run_id}")
        run = tracking.get_run(rid)
        rel = confine(path)
        # MLflow 3 keeps log_model() files with the logged model, not under the run's
        # artifacts: runs:/<id>/<name> then means the run's output model of that name.
        for out in sorted(run.outputs.model_outputs, key=lambda o: -o.step):
            model = tracking.get_logged_model(out.model_id)
            if model.name == rel:
                return ResolvedSource(model.artifact_location, rid, model.model_id)
        base = run.info.artifact_uri.rstrip("/")
        return ResolvedSource(f"{base}/{rel}" if rel else base, rid, None)

    roots = list(allowed_roots)
    if run_id:
        roots.insert(0, tracking.get_run(run_id).info.artifact_uri)
    if not any(is_under(source, r) for r in roots if r):
        raise _refuse(source, "it lies outside every allowed artifact root")
    return ResolvedSource(source, run_id, None)


def _split_model_ref(source: str, ref: str) -> tuple[str, str]:
    if "@" in ref:
        name, _, alias = ref.rpartition("@")
        if not name or not alias:
            raise _refuse(source, "expected models:/<name>@<alias>")
        return name, "@" + alias
    name, _, version = ref.rpartition("/")
    if not name or not version:
        raise _refuse(source, "expected models:/<name>/<version>")
    return name, version
