"""The dataset registry in the tracking database (migration 0012)."""

from __future__ import annotations

from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from loopml.errors import InvalidParameterValue, ResourceDoesNotExist
from loopml.security.workspaces import creating_workspace, name_workspace, scoped
from loopml.store import _schema as t
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import now_ms
from loopml.store.datasets_base import (
    LINEAGE_KINDS,
    LINEAGE_ROLES,
    DatasetStore,
    DatasetSummary,
    DatasetVersion,
    LineageLink,
)

_N, _V, _T, _A, _L = (t.dataset_names.c, t.dataset_versions.c, t.dataset_tags.c,
                      t.dataset_aliases.c, t.dataset_lineage.c)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > 256 or "/" in name:
        raise InvalidParameterValue(
            f"The 'name' parameter of a dataset must be 1-256 characters without '/'. "
            f"Got {name!r}.")


def _loads(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    v = orjson.loads(text)
    return v if isinstance(v, dict) else {"value": v}


def insert_version(conn: Connection, v: DatasetVersion) -> tuple[int, bool]:
    """Register ``v`` inside the caller's transaction: (version number, created). Shared by
    the registry and by the tracking store's ``log_inputs`` (MLflow-logged datasets)."""
    _check_name(v.name)
    now = now_ms()
    ws = creating_workspace()  # names are unique per workspace (migration 0013)
    found = conn.execute(sa.select(_V.version).where(_V.workspace == ws, _V.name == v.name,
                                                     _V.digest == v.digest)).scalar()
    if found is not None:
        return int(found), False
    if conn.execute(sa.select(_N.name).where(_N.workspace == ws,
                                             _N.name == v.name)).first() is None:
        conn.execute(sa.insert(t.dataset_names).values(  # a new name joins this workspace
            name=v.name, created_time=now, updated_time=now, description="", workspace=ws))
    else:
        conn.execute(sa.update(t.dataset_names).where(_N.workspace == ws, _N.name == v.name)
                     .values(updated_time=now))
    number = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(_V.version), 0)).where(
        _V.workspace == ws, _V.name == v.name)).scalar_one()) + 1
    conn.execute(sa.insert(t.dataset_versions).values(
        workspace=ws, name=v.name, version=number, digest=v.digest, source=v.source,
        source_type=v.source_type, schema=orjson.dumps(v.schema).decode(),
        profile=orjson.dumps(v.profile).decode(), num_rows=v.num_rows,
        artifact_uri=v.artifact_uri, description=v.description, created_time=now))
    for k, val in v.tags.items():
        conn.execute(sa.insert(t.dataset_tags).values(workspace=ws, name=v.name,
                                                      version=number, key=k, value=str(val)))
    return number, True


def _source_uri(source: str) -> str:
    """MLflow clients send a source as JSON (``{"uri": "s3://..."}``); loopml's as a URI."""
    if source.startswith("{"):
        try:
            d = orjson.loads(source)
        except orjson.JSONDecodeError:
            return source
        for key in ("uri", "url", "path", "source"):
            if isinstance(d, dict) and isinstance(d.get(key), str):
                return str(d[key])
    return source


def register_logged_dataset(conn: Connection, d: Any) -> int | None:
    """Register an MLflow ``Dataset`` entity (name, digest, source, schema and profile JSON
    strings) that a run logged as an input; returns its version, or None for a name the
    registry cannot hold (it stays a run input only)."""
    from loopml._redact import redact_uri

    if not d.name or len(d.name) > 256 or "/" in d.name:
        return None
    try:
        profile = _loads(d.profile)
        schema = _loads(d.schema)
    except orjson.JSONDecodeError:
        profile, schema = {}, {}
    rows = profile.get("num_rows") if isinstance(profile.get("num_rows"), int) else None
    number, _ = insert_version(conn, DatasetVersion(
        d.name, 0, d.digest, redact_uri(_source_uri(d.source or "")), d.source_type or "",
        schema, profile, rows))
    return number


class SqlDatasetStore(SqlBase, DatasetStore):
    """Names are unique per workspace: each lookup by name acts in the current workspace
    (``name_workspace``)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @staticmethod
    def _ws(conn: Connection, name: str) -> str:
        return name_workspace(conn, t.dataset_names, name)

    def create_version(self, version: DatasetVersion) -> tuple[DatasetVersion, bool]:
        for _ in range(3):  # two writers taking the same next number: the loser retries
            try:
                with self._tx() as conn:
                    number, created = insert_version(conn, version)
                    if created:
                        self._event(conn, "dataset.version_created", version.name, {
                            "name": version.name, "version": number,
                            "digest": version.digest, "source": version.source},
                            creating_workspace())
                break
            except IntegrityError:
                continue
        else:
            raise InvalidParameterValue(f"Could not register a version of {version.name!r}: "
                                        "concurrent writers; retry.")
        with self._read() as conn:
            found = self._versions(conn, creating_workspace(), version.name,
                                   _V.version == number)
        return found[0], created

    def list_datasets(self, name_like: str | None = None,
                      limit: int = 100) -> list[DatasetSummary]:
        latest = sa.func.max(_V.version)
        q = (sa.select(t.dataset_names, latest.label("latest"),
                       sa.func.count(_V.version).label("n"))
             .join(t.dataset_versions, (_V.workspace == _N.workspace) & (_V.name == _N.name))
             .group_by(*t.dataset_names.c))
        q = scoped(q, _N.workspace)  # the current workspace's datasets only
        if name_like:
            q = q.where(_N.name.like(name_like))
        with self._read() as conn:
            rows = conn.execute(q.order_by(_N.name).limit(max(1, min(limit, 10_000)))).all()
            tags = {ws: self._tags(conn, ws, [r.name for r in rows if r.workspace == ws],
                                   version=0) for ws in {r.workspace for r in rows}}
        return [DatasetSummary(r.name, int(r.latest), int(r.n), r.description,
                               r.created_time, r.updated_time,
                               tags[r.workspace].get((r.name, 0), {}))
                for r in rows]

    @staticmethod
    def _tags(conn: Connection, ws: str, names: list[str],
              version: int | None = None) -> dict[tuple[str, int], dict[str, str]]:
        if not names:
            return {}
        q = sa.select(_T.name, _T.version, _T.key, _T.value).where(_T.workspace == ws,
                                                                   _T.name.in_(names))
        if version is not None:
            q = q.where(_T.version == version)
        out: dict[tuple[str, int], dict[str, str]] = {}
        for r in conn.execute(q):
            out.setdefault((r.name, r.version), {})[r.key] = r.value
        return out

    def _versions(self, conn: Connection, ws: str, name: str,
                  where: Any = None) -> list[DatasetVersion]:
        q = sa.select(t.dataset_versions).where(_V.workspace == ws, _V.name == name)
        if where is not None:
            q = q.where(where)
        rows = conn.execute(q.order_by(_V.version.desc())).all()
        tags = self._tags(conn, ws, [name])
        aliases: dict[int, list[str]] = {}
        for a in conn.execute(sa.select(_A.alias, _A.version).where(
                _A.workspace == ws, _A.name == name).order_by(_A.alias)):
            aliases.setdefault(a.version, []).append(a.alias)
        return [DatasetVersion(r.name, r.version, r.digest, r.source, r.source_type,
                               _loads(r.schema), _loads(r.profile), r.num_rows,
                               r.artifact_uri, r.description, r.created_time,
                               tags.get((name, r.version), {}),
                               tuple(aliases.get(r.version, ())))
                for r in rows]

    def list_versions(self, name: str) -> list[DatasetVersion]:
        with self._read() as conn:
            out = self._versions(conn, self._ws(conn, name), name)
        if not out:
            raise ResourceDoesNotExist(f"Dataset {name!r} does not exist; see "
                                       "`loopml datasets list`.")
        return out

    def get_version(self, name: str, ref: str | int) -> DatasetVersion:
        s = str(ref).strip()
        with self._read() as conn:
            ws = self._ws(conn, name)
            if s.isdigit():
                where: Any = _V.version == int(s)
            elif s == "latest":
                where = _V.version == sa.select(sa.func.max(_V.version)).where(
                    _V.workspace == ws, _V.name == name).scalar_subquery()
            else:
                alias = conn.execute(sa.select(_A.version).where(
                    _A.workspace == ws, _A.name == name, _A.alias == s)).scalar()
                where = _V.version == alias if alias is not None else _V.digest == s
            found = self._versions(conn, ws, name, where)
            known = found or conn.execute(sa.select(_N.name).where(
                _N.workspace == ws, _N.name == name)).first()
        if not known:
            raise ResourceDoesNotExist(f"Dataset {name!r} does not exist; see "
                                       "`loopml datasets list`.")
        if not found:
            raise ResourceDoesNotExist(
                f"Dataset {name!r} has no version {s!r} (a number, an alias, 'latest' or a "
                "digest); see `loopml datasets versions NAME`.")
        return found[0]

    def _require(self, conn: Connection, name: str, version: int) -> str:
        """The dataset's workspace, when ``version`` of it exists (else 404)."""
        ws = self._ws(conn, name)
        if conn.execute(sa.select(_V.version).where(_V.workspace == ws, _V.name == name,
                                                    _V.version == version)).first() is None:
            raise ResourceDoesNotExist(f"Dataset {name!r} has no version {version}.")
        return ws

    def set_tag(self, name: str, key: str, value: str, version: int = 0) -> None:
        if not key or len(key) > 250:
            raise InvalidParameterValue(f"A dataset tag key must be 1-250 characters. Got {key!r}.")
        with self._tx() as conn:
            if version:
                ws = self._require(conn, name, version)
            else:
                ws = self._ws(conn, name)
                if conn.execute(sa.select(_N.name).where(_N.workspace == ws,
                                                         _N.name == name)).first() is None:
                    raise ResourceDoesNotExist(f"Dataset {name!r} does not exist.")
            conn.execute(sa.delete(t.dataset_tags).where(
                _T.workspace == ws, _T.name == name, _T.version == version, _T.key == key))
            conn.execute(sa.insert(t.dataset_tags).values(workspace=ws, name=name,
                                                          version=version, key=key,
                                                          value=str(value)))

    def set_alias(self, name: str, alias: str, version: int) -> None:
        if not alias or alias.isdigit() or alias == "latest" or len(alias) > 256:
            raise InvalidParameterValue(
                f"A dataset alias must be 1-256 characters, not a number nor 'latest'. "
                f"Got {alias!r}.")
        with self._tx() as conn:
            ws = self._require(conn, name, version)
            conn.execute(sa.delete(t.dataset_aliases).where(
                _A.workspace == ws, _A.name == name, _A.alias == alias))
            conn.execute(sa.insert(t.dataset_aliases).values(workspace=ws, name=name,
                                                             alias=alias, version=version))
            self._event(conn, "dataset.alias_set", name, {"name": name, "alias": alias,
                                                          "version": version}, ws)

    def delete_alias(self, name: str, alias: str) -> None:
        with self._tx() as conn:
            conn.execute(sa.delete(t.dataset_aliases).where(
                _A.workspace == self._ws(conn, name), _A.name == name, _A.alias == alias))

    def add_lineage(self, name: str, version: int, kind: str, ref: str,
                    role: str = "input") -> None:
        if kind not in LINEAGE_KINDS or role not in LINEAGE_ROLES:
            raise InvalidParameterValue(
                f"Lineage kind must be one of {LINEAGE_KINDS} and role one of {LINEAGE_ROLES}. "
                f"Got {kind!r}, {role!r}.")
        with self._tx() as conn:
            ws = self._require(conn, name, version)
            exists = conn.execute(sa.select(_L.ref).where(
                _L.workspace == ws, _L.name == name, _L.version == version, _L.kind == kind,
                _L.ref == ref, _L.role == role)).first()
            if exists is None:
                conn.execute(sa.insert(t.dataset_lineage).values(
                    workspace=ws, name=name, version=version, kind=kind, ref=ref, role=role,
                    created_time=now_ms()))

    def lineage(self, name: str, version: int) -> list[LineageLink]:
        d, ri = t.datasets.c, t.run_dataset_inputs.c
        with self._read() as conn:
            ws = self._require(conn, name, version)
            digest = conn.execute(sa.select(_V.digest).where(
                _V.workspace == ws, _V.name == name, _V.version == version)).scalar_one()
            links = [LineageLink(r.kind, r.ref, r.role, r.created_time) for r in conn.execute(
                sa.select(t.dataset_lineage).where(_L.workspace == ws, _L.name == name,
                                                   _L.version == version)
                .order_by(_L.created_time))]
            seen = {(x.kind, x.ref, x.role) for x in links}
            runs = conn.execute(sa.select(ri.run_uuid, t.runs.c.start_time)
                                .join(t.datasets, d.dataset_uuid == ri.dataset_uuid)
                                .join(t.runs, t.runs.c.run_uuid == ri.run_uuid)
                                .join(t.experiments, t.experiments.c.experiment_id
                                      == d.experiment_id)
                                .where(d.name == name, d.digest == digest,
                                       t.experiments.c.workspace == ws)).all()
        for r in runs:
            if ("run", r.run_uuid, "input") not in seen:
                links.append(LineageLink("run", r.run_uuid, "input", r.start_time or 0))
        return links


__all__ = [
    "SqlDatasetStore", "insert_version", "register_logged_dataset",
]
