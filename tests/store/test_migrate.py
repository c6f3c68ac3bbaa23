"""Migrations are applied at start and are safe when several processes start at once."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import sqlalchemy as sa


def _init(uri: str, root: str) -> None:
    from loopml.store.sql import SqlStore

    SqlStore(uri, root).close()


def _start_many(uri: str, root: str, n: int = 4) -> None:
    ctx = mp.get_context("spawn")
    ps = [ctx.Process(target=_init, args=(uri, root)) for _ in range(n)]
    for p in ps:
        p.start()
    for p in ps:
        p.join(120)
    assert [p.exitcode for p in ps] == [0] * n


def _head() -> str:
    from pathlib import Path

    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import loopml.store

    cfg = Config()
    cfg.set_main_option("script_location",
                        str(Path(loopml.store.__file__).parent / "migrations"))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


def _check(uri: str) -> None:
    from loopml.store._engine import create_engine

    eng = create_engine(uri)
    with eng.connect() as c:
        assert c.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == _head()
        assert c.execute(sa.text("SELECT count(*) FROM experiments WHERE name = 'Default'")).scalar() == 1
    eng.dispose()


def test_concurrent_start_sqlite(tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    _start_many(uri, str(tmp_path / "a"))
    _check(uri)


@pytest.mark.postgres
def test_concurrent_start_postgres(postgres_uri, tmp_path) -> None:
    _start_many(postgres_uri, str(tmp_path / "a"))
    _check(postgres_uri)


def test_bad_uri_is_a_clear_error() -> None:
    from loopml.errors import InvalidParameterValue
    from loopml.store import get_store

    with pytest.raises(InvalidParameterValue, match="Supported schemes"):
        get_store("mysql://x/y")


def test_upgrade_from_0001(tmp_path) -> None:
    """A database made by 0.1.0 (revision 0001) gains the registry tables on the next start."""
    from alembic import command
    from alembic.config import Config

    from loopml.store._engine import create_engine, migration_lock
    from loopml.store.registry_sql import SqlRegistryStore
    from loopml.store.sql import SqlStore

    uri = f"sqlite:///{tmp_path / 'old.db'}"
    eng = create_engine(uri)
    cfg = Config()
    from pathlib import Path

    import loopml.store

    cfg.set_main_option("script_location", str(Path(loopml.store.__file__).parent / "migrations"))
    with migration_lock(eng) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.commit()
    eng.dispose()
    with sa.create_engine(uri).begin() as c:
        assert "registered_models" not in sa.inspect(c).get_table_names()

    store = SqlStore(uri, str(tmp_path / "a"))
    run_id = store.create_run("0").info.run_id
    reg = SqlRegistryStore(store.engine)
    reg.create_registered_model("m")
    assert reg.create_model_version("m", f"runs:/{run_id}/model", run_id=run_id).version == 1
    store.close()
