"""SQL model registry on SQLAlchemy Core, in the tracking store's database.

It shares the tracking store's engine (and so its SQLite write lock and migrations): a version
and the event announcing it commit together, and lineage queries join runs to versions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.entities import ModelVersion, PagedList, RegisteredModel, Stage
from loopml.errors import (
    InvalidParameterValue,
    ResourceAlreadyExists,
    ResourceDoesNotExist,
    invalid_param,
)
from loopml.security import quotas
from loopml.security.workspaces import (
    creating_workspace,
    name_workspace,
    scoped,
)
from loopml.store import _schema as t
from loopml.store._search_registry import model_versions_select, registered_models_select
from loopml.store._sql_base import SqlBase
from loopml.store._sql_util import (
    check_max_results,
    decode_page_token,
    encode_page_token,
    now_ms,
    validate_key,
    validate_name,
)
from loopml.store.registry_base import (
    SEARCH_MODEL_VERSIONS_MAX,
    SEARCH_REGISTERED_MODELS_MAX,
    RegistryStore,
)

_RM, _MV = t.registered_models.c, t.model_versions.c
_RMT, _MVT, _AL = t.registered_model_tags.c, t.model_version_tags.c, t.registered_model_aliases.c
# "latest" and "v<digits>" would be ambiguous in models:/name@alias URIs (MLflow's rule).
_RESERVED_ALIAS = re.compile(r"^(latest|v\d+)$", re.IGNORECASE)
_ALIAS_RE = re.compile(r"^[\w\-]+$")


def validate_model_name(name: object, where: str) -> str:
    validate_name(name, "name", where)
    assert isinstance(name, str)
    if "/" in name or name != name.strip():
        raise InvalidParameterValue(
            f"Invalid registered model name {name!r} in {where}: it must not contain '/' or "
            "start/end with spaces, because it appears in models:/<name>/<version> URIs."
        )
    return name


def parse_version(version: object, where: str) -> int:
    if isinstance(version, bool):
        raise invalid_param("version", where, "a positive integer", version)
    try:
        v = int(str(version))
    except ValueError:
        raise invalid_param("version", where, "a positive integer", version) from None
    if v < 1:
        raise invalid_param("version", where, "a positive integer", version)
    return v


def validate_alias(alias: object, where: str) -> str:
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias) or len(alias) > 255:
        raise invalid_param(
            "alias", where, "letters, digits, '_' and '-' (at most 255 characters)", alias
        )
    if _RESERVED_ALIAS.match(alias):
        raise InvalidParameterValue(
            f"Alias {alias!r} is reserved ('latest' and 'v<number>' already mean something in "
            "models:/ URIs). Pick another alias, e.g. 'champion'."
        )
    return alias


class SqlRegistryStore(SqlBase, RegistryStore):
    def __init__(self, engine: Engine) -> None:
        # The engine is the tracking store's; it has already run the migrations.
        self.engine = engine

    # ---- loading -------------------------------------------------------------------------
    # Names are unique per workspace (migration 0013): every lookup is by (workspace, name),
    # the workspace being the current one (``name_workspace``).
    def _ws(self, conn: Connection, name: str) -> str:
        return name_workspace(conn, t.registered_models, name)

    def _require_model(self, conn: Connection, ws: str, name: str, lock: bool = False) -> Any:
        q = sa.select(t.registered_models).where(_RM.workspace == ws, _RM.name == name)
        if lock:
            q = q.with_for_update()  # PostgreSQL: serialise version numbering per model
        row = conn.execute(q).first()
        if row is None:
            raise ResourceDoesNotExist(f"Registered model {name!r} does not exist.")
        return row

    def _versions(self, conn: Connection,
                  keys: Sequence[tuple[str, str, int]]) -> list[ModelVersion]:
        """Versions by (workspace, name, version), in ``keys`` order (missing ones left out)."""
        if not keys:
            return []
        names = sorted({k[1] for k in keys})
        wss = sorted({k[0] for k in keys})
        wanted = set(keys)
        rows = {
            (r.workspace, r.name, r.version): r
            for r in conn.execute(sa.select(t.model_versions).where(
                _MV.name.in_(names), _MV.workspace.in_(wss)))
            if (r.workspace, r.name, r.version) in wanted
        }
        tags: dict[tuple[str, str, int], dict[str, str]] = {}
        for r in conn.execute(sa.select(t.model_version_tags).where(
                _MVT.name.in_(names), _MVT.workspace.in_(wss))):
            tags.setdefault((r.workspace, r.name, r.version), {})[r.key] = r.value
        aliases: dict[tuple[str, str, int], list[str]] = {}
        for r in conn.execute(
            sa.select(t.registered_model_aliases).where(
                _AL.name.in_(names), _AL.workspace.in_(wss)).order_by(_AL.alias)
        ):
            aliases.setdefault((r.workspace, r.name, r.version), []).append(r.alias)
        out = []
        for k in keys:
            if k not in rows:
                continue
            r = rows[k]
            out.append(ModelVersion(
                name=r.name, version=r.version, creation_timestamp=r.creation_time,
                last_updated_timestamp=r.last_updated_time, source=r.source,
                storage_location=r.storage_location, current_stage=r.current_stage,
                description=r.description, user_id=r.user_id, run_id=r.run_id,
                run_link=r.run_link, model_id=r.model_id, status=r.status,
                status_message=r.status_message, trusted=bool(r.trusted),
                tags=tags.get(k, {}), aliases=tuple(aliases.get(k, [])),
            ))
        return out

    def _version(self, conn: Connection, ws: str, name: str, version: int) -> ModelVersion:
        found = self._versions(conn, [(ws, name, version)])
        if not found:
            self._require_model(conn, ws, name)
            raise ResourceDoesNotExist(f"Model version {name!r} version {version} does not exist.")
        return found[0]

    def _latest(self, conn: Connection, ws: str, name: str,
                stages: Sequence[str] | None) -> list[ModelVersion]:
        rows = conn.execute(
            sa.select(_MV.current_stage, sa.func.max(_MV.version))
            .where(_MV.workspace == ws, _MV.name == name).group_by(_MV.current_stage)
        ).all()
        wanted = {Stage.parse(s).value for s in stages} if stages else None
        keys = [(ws, name, int(v)) for stage, v in rows if wanted is None or stage in wanted]
        return sorted(self._versions(conn, keys), key=lambda m: m.version)

    def _models(self, conn: Connection, keys: Sequence[tuple[str, str]]) -> list[RegisteredModel]:
        """Registered models by (workspace, name), in ``keys`` order."""
        if not keys:
            return []
        names = sorted({k[1] for k in keys})
        wss = sorted({k[0] for k in keys})
        rows = {(r.workspace, r.name): r for r in conn.execute(
            sa.select(t.registered_models).where(_RM.name.in_(names), _RM.workspace.in_(wss)))}
        tags: dict[tuple[str, str], dict[str, str]] = {}
        for r in conn.execute(sa.select(t.registered_model_tags).where(
                _RMT.name.in_(names), _RMT.workspace.in_(wss))):
            tags.setdefault((r.workspace, r.name), {})[r.key] = r.value
        aliases: dict[tuple[str, str], dict[str, int]] = {}
        for r in conn.execute(sa.select(t.registered_model_aliases).where(
                _AL.name.in_(names), _AL.workspace.in_(wss))):
            aliases.setdefault((r.workspace, r.name), {})[r.alias] = r.version
        out = []
        for k in keys:
            if k not in rows:
                continue
            r = rows[k]
            out.append(RegisteredModel(
                name=r.name, creation_timestamp=r.creation_time,
                last_updated_timestamp=r.last_updated_time, description=r.description,
                tags=tags.get(k, {}), aliases=aliases.get(k, {}),
                latest_versions=tuple(self._latest(conn, k[0], k[1], None)),
            ))
        return out

    def _touch(self, conn: Connection, ws: str, name: str, now: int) -> None:
        conn.execute(sa.update(t.registered_models).where(_RM.workspace == ws, _RM.name == name)
                     .values(last_updated_time=now))

    # ---- registered models ---------------------------------------------------------------
    def create_registered_model(
        self, name: str, tags: dict[str, str] | None = None, description: str | None = None
    ) -> RegisteredModel:
        validate_model_name(name, "create_registered_model")
        for k in tags or {}:
            validate_key(k, "tag key", "create_registered_model")
        now = now_ms()
        ws = creating_workspace()
        with self._tx() as conn:
            if conn.execute(sa.select(_RM.name).where(_RM.workspace == ws,
                                                      _RM.name == name)).first():
                raise ResourceAlreadyExists(f"Registered model {name!r} already exists.")
            quotas.enforce(conn, ws, "registered_models")  # before the insert
            conn.execute(sa.insert(t.registered_models).values(
                name=name, creation_time=now, last_updated_time=now, description=description,
                next_version=1, workspace=ws,
            ))
            if tags:
                conn.execute(sa.insert(t.registered_model_tags), [
                    {"workspace": ws, "name": name, "key": k, "value": v}
                    for k, v in tags.items()])
            self._event(conn, "registered_model.created", name, {"name": name}, ws)
            return self._models(conn, [(ws, name)])[0]

    def get_registered_model(self, name: str) -> RegisteredModel:
        with self._read() as conn:
            found = self._models(conn, [(self._ws(conn, name), name)])
        if not found:
            raise ResourceDoesNotExist(f"Registered model {name!r} does not exist.")
        return found[0]

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        validate_model_name(new_name, "rename_registered_model")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            if conn.execute(sa.select(_RM.name).where(_RM.workspace == ws,
                                                      _RM.name == new_name)).first():
                raise ResourceAlreadyExists(f"Registered model {new_name!r} already exists.")
            # Child rows follow through ON UPDATE CASCADE; version tags reference versions.
            conn.execute(sa.update(t.registered_models)
                         .where(_RM.workspace == ws, _RM.name == name)
                         .values(name=new_name, last_updated_time=now_ms()))
            self._event(conn, "registered_model.renamed", new_name, {"from": name}, ws)
            return self._models(conn, [(ws, new_name)])[0]

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            conn.execute(sa.update(t.registered_models)
                         .where(_RM.workspace == ws, _RM.name == name)
                         .values(description=description, last_updated_time=now_ms()))
            return self._models(conn, [(ws, name)])[0]

    def delete_registered_model(self, name: str) -> None:
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            conn.execute(sa.delete(t.registered_models)
                         .where(_RM.workspace == ws, _RM.name == name))
            self._event(conn, "registered_model.deleted", name, {"name": name}, ws)

    def search_registered_models(
        self,
        filter_string: str | None = None,
        max_results: int = 100,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[RegisteredModel]:
        where = "search_registered_models"
        limit = check_max_results(max_results, where, SEARCH_REGISTERED_MODELS_MAX)
        offset = decode_page_token(page_token, where)
        with self._read() as conn:
            keys = [(str(r[0]), str(r[1])) for r in conn.execute(scoped(
                registered_models_select(filter_string, order_by, offset, limit + 1),
                _RM.workspace))]
            items = self._models(conn, keys[:limit])
        token = encode_page_token(offset + limit) if len(keys) > limit else None
        return PagedList(items, token)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        validate_key(key, "key", "set_registered_model_tag")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            conn.execute(sa.delete(t.registered_model_tags)
                         .where(_RMT.workspace == ws, _RMT.name == name, _RMT.key == key))
            conn.execute(sa.insert(t.registered_model_tags).values(
                workspace=ws, name=name, key=key, value=value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            conn.execute(sa.delete(t.registered_model_tags)
                         .where(_RMT.workspace == ws, _RMT.name == name, _RMT.key == key))

    def get_latest_versions(
        self, name: str, stages: Sequence[str] | None = None
    ) -> list[ModelVersion]:
        for s in stages or []:
            try:
                Stage.parse(s)
            except ValueError:
                raise invalid_param(
                    "stages", "get_latest_versions", "stages among None, Staging, Production, "
                    "Archived", s) from None
        with self._read() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            return self._latest(conn, ws, name, stages)

    # ---- versions -----------------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        source: str,
        storage_location: str | None = None,
        run_id: str | None = None,
        tags: dict[str, str] | None = None,
        run_link: str | None = None,
        description: str | None = None,
        model_id: str | None = None,
        user_id: str | None = None,
    ) -> ModelVersion:
        where = "create_model_version"
        if not isinstance(source, str) or not source:
            raise invalid_param("source", where, "a non-empty model URI or path", source)
        for k in tags or {}:
            validate_key(k, "tag key", where)
        now = now_ms()
        with self._tx() as conn:
            ws = self._ws(conn, name)
            row = self._require_model(conn, ws, name, lock=True)
            version = int(row.next_version)
            conn.execute(sa.update(t.registered_models)
                         .where(_RM.workspace == ws, _RM.name == name)
                         .values(next_version=version + 1, last_updated_time=now))
            conn.execute(sa.insert(t.model_versions).values(
                workspace=ws, name=name, version=version, creation_time=now,
                last_updated_time=now, description=description, user_id=user_id,
                current_stage=Stage.NONE.value, source=source,
                storage_location=storage_location or source, run_id=run_id,
                run_link=run_link, model_id=model_id, status="READY", trusted=False,
            ))
            if tags:
                conn.execute(sa.insert(t.model_version_tags), [
                    {"workspace": ws, "name": name, "version": version, "key": k, "value": v}
                    for k, v in tags.items()
                ])
            self._event(conn, "model_version.created", f"{name}/{version}",
                        {"name": name, "version": version, "run_id": run_id}, ws)
            return self._version(conn, ws, name, version)

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        v = parse_version(version, "get_model_version")
        with self._read() as conn:
            return self._version(conn, self._ws(conn, name), name, v)

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        v = parse_version(version, "update_model_version")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._version(conn, ws, name, v)
            conn.execute(sa.update(t.model_versions)
                         .where(_MV.workspace == ws, _MV.name == name, _MV.version == v)
                         .values(description=description, last_updated_time=now_ms()))
            return self._version(conn, ws, name, v)

    def transition_model_version_stage(
        self, name: str, version: int | str, stage: str, archive_existing_versions: bool = False
    ) -> ModelVersion:
        where = "transition_model_version_stage"
        v = parse_version(version, where)
        try:
            new = Stage.parse(stage)
        except (ValueError, AttributeError):
            raise invalid_param(
                "stage", where, "one of None, Staging, Production, Archived", stage) from None
        now = now_ms()
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._version(conn, ws, name, v)
            mine = (_MV.workspace == ws, _MV.name == name)
            if archive_existing_versions and new in (Stage.STAGING, Stage.PRODUCTION):
                conn.execute(
                    sa.update(t.model_versions)
                    .where(*mine, _MV.version != v, _MV.current_stage == new.value)
                    .values(current_stage=Stage.ARCHIVED.value, last_updated_time=now)
                )
            conn.execute(sa.update(t.model_versions).where(*mine, _MV.version == v)
                         .values(current_stage=new.value, last_updated_time=now))
            self._touch(conn, ws, name, now)
            self._event(conn, "model_version.stage_changed", f"{name}/{v}",
                        {"name": name, "version": v, "stage": new.value}, ws)
            return self._version(conn, ws, name, v)

    def delete_model_version(self, name: str, version: int | str) -> None:
        v = parse_version(version, "delete_model_version")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._version(conn, ws, name, v)
            conn.execute(sa.delete(t.registered_model_aliases)
                         .where(_AL.workspace == ws, _AL.name == name, _AL.version == v))
            conn.execute(sa.delete(t.model_version_tags)
                         .where(_MVT.workspace == ws, _MVT.name == name, _MVT.version == v))
            conn.execute(sa.delete(t.model_versions)
                         .where(_MV.workspace == ws, _MV.name == name, _MV.version == v))
            self._touch(conn, ws, name, now_ms())
            self._event(conn, "model_version.deleted", f"{name}/{v}",
                        {"name": name, "version": v}, ws)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        max_results: int = SEARCH_MODEL_VERSIONS_MAX,
        order_by: Sequence[str] | None = None,
        page_token: str | None = None,
    ) -> PagedList[ModelVersion]:
        where = "search_model_versions"
        limit = check_max_results(max_results, where, SEARCH_MODEL_VERSIONS_MAX)
        offset = decode_page_token(page_token, where)
        with self._read() as conn:
            q = scoped(model_versions_select(filter_string, order_by, offset, limit + 1),
                       _MV.workspace)  # versions of this workspace's models
            keys = [(str(r[0]), str(r[1]), int(r[2])) for r in conn.execute(q)]
            items = self._versions(conn, keys[:limit])
        token = encode_page_token(offset + limit) if len(keys) > limit else None
        return PagedList(items, token)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: str) -> None:
        v = parse_version(version, "set_model_version_tag")
        validate_key(key, "key", "set_model_version_tag")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._version(conn, ws, name, v)
            conn.execute(sa.delete(t.model_version_tags).where(
                _MVT.workspace == ws, _MVT.name == name, _MVT.version == v, _MVT.key == key))
            conn.execute(sa.insert(t.model_version_tags)
                         .values(workspace=ws, name=name, version=v, key=key, value=value))

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        v = parse_version(version, "delete_model_version_tag")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._version(conn, ws, name, v)
            conn.execute(sa.delete(t.model_version_tags).where(
                _MVT.workspace == ws, _MVT.name == name, _MVT.version == v, _MVT.key == key))

    def get_model_version_download_uri(self, name: str, version: int | str) -> str:
        return self.get_model_version(name, version).storage_location

    def set_model_version_trusted(self, name: str, version: int | str, trusted: bool) -> None:
        v = parse_version(version, "set_model_version_trusted")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._version(conn, ws, name, v)
            conn.execute(sa.update(t.model_versions)
                         .where(_MV.workspace == ws, _MV.name == name, _MV.version == v)
                         .values(trusted=bool(trusted), last_updated_time=now_ms()))
            self._event(conn, "model_version.trust_changed", f"{name}/{v}",
                        {"name": name, "version": v, "trusted": bool(trusted)}, ws)

    # ---- aliases -------------------------------------------------------------------------
    def set_registered_model_alias(self, name: str, alias: str, version: int | str) -> None:
        validate_alias(alias, "set_registered_model_alias")
        v = parse_version(version, "set_registered_model_alias")
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._version(conn, ws, name, v)
            key = (_AL.workspace == ws, _AL.name == name, _AL.alias == alias)
            previous = conn.execute(sa.select(_AL.version).where(*key)).scalar()
            conn.execute(sa.delete(t.registered_model_aliases).where(*key))
            conn.execute(sa.insert(t.registered_model_aliases)
                         .values(workspace=ws, name=name, alias=alias, version=v))
            self._touch(conn, ws, name, now_ms())
            self._event(conn, "alias.set", f"{name}@{alias}",
                        {"name": name, "alias": alias, "version": v, "previous": previous}, ws)

    def delete_registered_model_alias(self, name: str, alias: str) -> None:
        with self._tx() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            conn.execute(sa.delete(t.registered_model_aliases)
                         .where(_AL.workspace == ws, _AL.name == name, _AL.alias == alias))
            self._event(conn, "alias.deleted", f"{name}@{alias}",
                        {"name": name, "alias": alias}, ws)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        with self._read() as conn:
            ws = self._ws(conn, name)
            self._require_model(conn, ws, name)
            v = conn.execute(
                sa.select(_AL.version).where(_AL.workspace == ws, _AL.name == name,
                                             _AL.alias == alias)
            ).scalar()
            if v is None:
                raise ResourceDoesNotExist(
                    f"Registered model {name!r} has no alias {alias!r}. Set it with "
                    "set_registered_model_alias, or use models:/<name>/<version>."
                )
            return self._version(conn, ws, name, int(v))
