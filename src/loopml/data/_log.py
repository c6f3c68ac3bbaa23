"""Schemas and profiles as run artifacts, linked to the dataset they describe by its digest."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import orjson

from loopml.data.profile import Profile
from loopml.data.profile import profile as make_profile
from loopml.data.schema import DataSchema, infer_schema


def log_dataset(data: Any, name: str = "dataset", source: str = "",
                context: str | None = "training") -> dict[str, str]:
    """Log ``data`` as an input of the active run, plus its schema and profile as artifacts
    under ``datasets/<digest>/``. The run tag ``loopml.dataset.<name>`` holds the digest.
    Returns the artifact paths. The profile is what later drift checks compare against.

    ``data`` may be a table or a path, glob or URI that a connector reads
    (``s3://...``, ``postgresql://...?query=...``); the recorded source is then the URI with
    its credentials masked, unless ``source`` is given."""
    from loopml.tracking._fluent import _run_id, client, log_input, set_tag

    if isinstance(data, str | Path):
        from loopml.data.connectors import open_source

        src = open_source(str(data))
        source = source or src.redacted
        data = src.read_table().to_pandas()
    digest = log_input(data, name=name, source=source, context=context)
    prof = make_profile(data)
    schema = infer_schema(prof)
    base = f"datasets/{digest}"
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "schema.json").write_text(schema.to_json())
        Path(tmp, "profile.json").write_bytes(orjson.dumps(prof.to_dict()))
        client().log_artifacts(_run_id(), tmp, base)
    set_tag(f"loopml.dataset.{name}", digest)
    return {"digest": digest, "schema": f"{base}/schema.json", "profile": f"{base}/profile.json"}


def load_schema(path: str | Path) -> DataSchema:
    return DataSchema.from_dict(orjson.loads(Path(path).read_bytes()))


def load_profile(path: str | Path) -> Profile:
    return Profile.from_dict(orjson.loads(Path(path).read_bytes()))


def _run_dataset_file(client: Any, run_id: str, name: str) -> bytes | None:
    """``name`` (profile.json, schema.json) that ``log_dataset`` stored for a run's training
    data (its first ``loopml.dataset.*`` tag), or None."""
    run = client.get_run(run_id)
    digests = [v for k, v in sorted(run.data.tags.items()) if k.startswith("loopml.dataset.")]
    if not digests:
        return None
    blobs = client.artifact_store(run.info.artifact_uri)
    path = f"datasets/{digests[0]}/{name}"
    return blobs.get_bytes(path) if blobs.exists(path) else None


def load_run_profile(client: Any, run_id: str) -> Profile | None:
    """The profile ``log_dataset`` stored for a run's training data, or None."""
    raw = _run_dataset_file(client, run_id, "profile.json")
    return Profile.from_dict(orjson.loads(raw)) if raw is not None else None


def load_run_schema(client: Any, run_id: str) -> DataSchema | None:
    """The schema ``log_dataset`` stored for a run's training data, or None."""
    raw = _run_dataset_file(client, run_id, "schema.json")
    return DataSchema.from_dict(orjson.loads(raw)) if raw is not None else None
