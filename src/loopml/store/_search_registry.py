"""Search filters for the registry, on the same grammar and compiler as run search.

Registered models: ``name``, ``tags.<key>``; model versions: ``name``, ``version_number``,
``run_id``, ``source_path``, ``current_stage``, ``tags.<key>``. IN works on strings, so
``run_id IN ('a', 'b')`` does what MLflow's does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from loopml.store import _schema as t
from loopml.store._search import _KV, _Entity, _order_terms, _paged, _where
from loopml.store._search_parse import parse_order_by

_RM = t.registered_models.c
# Names are unique per workspace (migration 0013): a tag belongs to "<workspace>:<name>"
# (workspace names hold no ':', so the owner key is unambiguous).
_rmt = t.registered_model_tags.c
_RMT_VIEW = sa.select(
    (_rmt.workspace + sa.literal(":") + _rmt.name).label("owner"),
    _rmt.key.label("key"),
    _rmt.value.label("value"),
).subquery("rmt")
REGISTERED_MODELS = _Entity(
    "registered models",
    _RM.workspace + sa.literal(":") + _RM.name,
    {
        "name": (_RM.name, False),
        "creation_timestamp": (_RM.creation_time, True),
        "last_updated_timestamp": (_RM.last_updated_time, True),
        "timestamp": (_RM.last_updated_time, True),
    },
    {"tags": _KV(_RMT_VIEW, "owner", False)},  # type: ignore[arg-type]
    ne_matches_missing=True,
)

_MV = t.model_versions.c
_MV_ATTRS: dict[str, tuple[ColumnElement[Any], bool]] = {
    "name": (_MV.name, False),
    "version_number": (_MV.version, True),
    "version": (_MV.version, True),
    "run_id": (_MV.run_id, False),
    "source_path": (_MV.source, False),
    "source": (_MV.source, False),
    "current_stage": (_MV.current_stage, False),
    "model_id": (_MV.model_id, False),
    "creation_timestamp": (_MV.creation_time, True),
    "last_updated_timestamp": (_MV.last_updated_time, True),
    "timestamp": (_MV.last_updated_time, True),
}
# The shared compiler correlates a key/value table on one owner column, but version tags are
# keyed by (workspace, name, version). This view gives them a single owner,
# "workspace:name:version", matched
# against the same expression on model_versions.
_mvt = t.model_version_tags.c
_MVT_VIEW = sa.select(
    (_mvt.workspace + sa.literal(":") + _mvt.name + sa.literal(":")
     + sa.cast(_mvt.version, sa.String)).label("owner"),
    _mvt.key.label("key"),
    _mvt.value.label("value"),
).subquery("mvt")
MODEL_VERSIONS = _Entity(
    "model versions",
    _MV.workspace + sa.literal(":") + _MV.name + sa.literal(":")
    + sa.cast(_MV.version, sa.String),
    _MV_ATTRS,
    {"tags": _KV(_MVT_VIEW, "owner", False)},  # type: ignore[arg-type]
    ne_matches_missing=True,
)


def _order(ent: _Entity, order_by: Sequence[str] | None) -> list[ColumnElement[Any]]:
    terms: list[ColumnElement[Any]] = []
    for ob in order_by or []:
        key = parse_order_by(ob)
        terms += _order_terms(ent, key.ident, key.ascending)
    return terms


def registered_models_select(
    filter_string: str | None, order_by: Sequence[str] | None, offset: int, limit: int
) -> sa.Select[Any]:
    q = sa.select(_RM.workspace, _RM.name)
    cond = _where(filter_string, REGISTERED_MODELS)
    if cond is not None:
        q = q.where(cond)
    terms = _order(REGISTERED_MODELS, order_by)
    return _paged(q.order_by(*terms, _RM.name.asc(), _RM.workspace.asc()), offset, limit)


def model_versions_select(
    filter_string: str | None, order_by: Sequence[str] | None, offset: int, limit: int
) -> sa.Select[Any]:
    q = sa.select(_MV.workspace, _MV.name, _MV.version)
    cond = _where(filter_string, MODEL_VERSIONS)
    if cond is not None:
        q = q.where(cond)
    terms = _order(MODEL_VERSIONS, order_by)
    if not order_by:
        terms = [_MV.name.asc(), _MV.version.desc()]
    return _paged(q.order_by(*terms, _MV.name.asc(), _MV.version.desc(), _MV.workspace.asc()),
                  offset, limit)
