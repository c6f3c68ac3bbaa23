"""Frozen migrations: a database made by any earlier revision, holding data, upgrades to
exactly the live schema (no autogenerate differences), on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import loopml.store
from loopml.store._engine import create_engine
from loopml.store._schema import metadata

NOW = int(time.time() * 1000)
# A little data per revision, inserted right after that revision: it must survive upgrades.
SEED: dict[str, list[tuple[str, dict[str, object]]]] = {
    "0001": [("experiments", {"experiment_id": 7, "name": "e", "artifact_location": "/a",
                              "creation_time": NOW, "last_update_time": NOW}),
             ("runs", {"run_uuid": "r" * 32, "experiment_id": 7, "name": "r",
                       "status": "FINISHED", "artifact_uri": "/a/r"}),
             ("metrics", {"run_uuid": "r" * 32, "key": "loss", "value": 0.5,
                          "timestamp": NOW, "step": 1}),
             ("events", {"type": "t", "subject": "s", "time": NOW})],
    "0002": [("registered_models", {"name": "m", "creation_time": NOW,
                                    "last_updated_time": NOW})],
    "0004": [("feedback", {"request_id": "q", "label": "1", "time": NOW})],
    "0006": [("consumer_cursors", {"name": "c", "seq": 3})],
}


def _config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(loopml.store.__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def _revisions() -> list[str]:
    with create_engine("sqlite://").connect() as conn:
        script = ScriptDirectory.from_config(_config(conn))
        return [r.revision for r in reversed(list(script.walk_revisions()))]


def _upgrade(uri: str, target: str) -> None:
    eng = create_engine(uri)
    with eng.connect() as conn:
        command.upgrade(_config(conn), target)
        conn.commit()
        present = set(sa.inspect(conn).get_table_names())
        for rev in _revisions():
            for table, row in SEED.get(rev, []) if rev == target else []:
                assert table in present
                # Only the seed's columns: the live table may have grown keys since.
                conn.execute(sa.insert(sa.table(table, *map(sa.column, row))).values(**row))
        conn.commit()
    eng.dispose()


def _assert_matches_live_schema(uri: str) -> None:
    eng = create_engine(uri)
    with eng.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diffs == [], diffs
        assert conn.execute(sa.text("SELECT count(*) FROM metrics")).scalar() == 1
        assert conn.execute(sa.text(
            "SELECT count(*) FROM experiments WHERE name IN ('Default', 'e')")).scalar() == 2
    eng.dispose()


def _from_every_revision(make_uri) -> None:  # type: ignore[no-untyped-def]
    revs = _revisions()
    assert revs[0] == "0001" and len(revs) >= 7
    for i, rev in enumerate(revs[:-1]):
        uri = make_uri(rev)
        for step in revs[: i + 1]:  # each revision's own seed, at that revision
            _upgrade(uri, step)
        _upgrade(uri, "head")
        _assert_matches_live_schema(uri)


def test_every_revision_upgrades_to_the_live_schema_sqlite(tmp_path) -> None:
    _from_every_revision(lambda rev: f"sqlite:///{tmp_path / f'at-{rev}.db'}")


def test_head_alone_matches_the_live_schema_sqlite(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'fresh.db'}"
    _upgrade(uri, "0001")
    _upgrade(uri, "head")
    _assert_matches_live_schema(uri)


@pytest.mark.postgres
def test_every_revision_upgrades_to_the_live_schema_postgres() -> None:
    import uuid

    import psycopg

    from tests.conftest import PG_HOST, PG_PORT, need_service

    need_service("PostgreSQL", PG_HOST, PG_PORT)
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    made: list[str] = []

    def make(rev: str) -> str:
        name = f"loopml_mig_{rev}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"

    try:
        _from_every_revision(make)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            for name in made:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_revisions_state_their_own_ddl() -> None:
    """No revision is built from the live schema: a later ALTER cannot rewrite history."""
    versions = Path(loopml.store.__file__).parent / "migrations" / "versions"
    for f in sorted(versions.glob("*.py")):
        text = f.read_text()
        assert "from loopml" not in text and "create_all(" not in text, f.name
        # Its own DDL: tables, indexes or columns spelled out, or plain SQL.
        assert any(k in text for k in ("op.create_table", "op.create_index", "op.add_column",
                                       "op.execute(")), f.name
