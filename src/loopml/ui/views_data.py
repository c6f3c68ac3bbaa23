"""Dashboard views of the dataset registry: the list of datasets, and one dataset's versions
with the chosen version's schema, profile plots (inline SVG) and lineage."""

from __future__ import annotations

from typing import Any

from loopml.ui._render import safe


def _store(s: Any) -> Any:
    from loopml.store import get_dataset_store

    return get_dataset_store(s.store)


def datasets(s: Any, q: dict[str, str]) -> dict[str, Any]:
    return {"datasets": _store(s).list_datasets(q.get("like") or None, 500)}


def dataset(s: Any, q: dict[str, str], name: str) -> dict[str, Any]:
    from loopml.data.profile import Profile
    from loopml.ui.svg_dist import profile_chart

    store = _store(s)
    versions = store.list_versions(name)
    chosen = store.get_version(name, q.get("version") or "latest")
    charts = []
    if chosen.profile.get("columns"):
        prof = Profile.from_dict(chosen.profile)
        charts = [safe(profile_chart(col, p)) for col, p in list(prof.columns.items())[:40]]
    columns = chosen.schema.get("columns") if isinstance(chosen.schema.get("columns"), list) \
        else chosen.schema.get("mlflow_colspec") or []
    return {"name": name, "versions": versions, "v": chosen, "charts": charts,
            "columns": columns, "lineage": store.lineage(name, chosen.version)}


__all__ = [
    "dataset", "datasets",
]
