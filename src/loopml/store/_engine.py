"""Engine creation for the SQL store: URI normalisation, SQLite pragmas, migrations on start."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import os
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml._redact import redact_uri
from loopml.errors import InvalidParameterValue

# The database password when the URI has none (keeps it off the command line): the
# variable itself, or LOOPML_BACKEND_STORE_PASSWORD_FILE naming a file that holds it.
ENV_PASSWORD = "LOOPML_BACKEND_STORE_PASSWORD"  # noqa: S105 - the name of a variable


def normalise_uri(uri: str) -> str:
    """``postgresql://`` means psycopg 3 here (SQLAlchemy would otherwise pick psycopg2)."""
    if uri.startswith("postgresql://") or uri.startswith("postgres://"):
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    if uri.startswith(("sqlite://", "postgresql+psycopg://")):
        return uri
    raise InvalidParameterValue(
        f"Unsupported database URI {redact_uri(uri)!r}. Use sqlite:///path/to/file.db or "
        "postgresql://user@host:port/dbname."
    )


def split_password(uri: str) -> tuple[str, str | None]:
    """(``uri`` without its password, the password) for a server URI; ``(uri, None)`` when
    it has none or is not a server database. The server keeps the password out of the
    URI it hands to its workers (and so out of their environment)."""
    if not uri.startswith(("postgresql", "postgres")) or "@" not in uri:
        return uri, None
    try:
        parsed = sa.engine.make_url(uri)
    except (sa.exc.ArgumentError, ValueError):
        return uri, None  # create_engine reports it, redacted
    if parsed.password is None:
        return uri, None
    bare = parsed._replace(password=None)  # URL.set(password=None) keeps it
    return bare.render_as_string(hide_password=False), str(parsed.password)


def _with_password(uri: str) -> sa.engine.URL:
    """The URL to connect with: ``uri`` plus the password from ``LOOPML_BACKEND_STORE_PASSWORD``
    (or its ``_FILE``) when ``uri`` has none. Errors show the URI redacted."""
    from loopml._secrets import read_secret

    try:
        url = sa.engine.make_url(uri)
    except (sa.exc.ArgumentError, ValueError) as e:
        raise InvalidParameterValue(
            f"Cannot parse database URI {redact_uri(uri)!r} ({type(e).__name__}). Use "
            "postgresql://user@host:port/dbname, with the password in "
            f"{ENV_PASSWORD} or a file (--backend-store-password-file).") from None
    password = read_secret(ENV_PASSWORD)
    if password is None:
        return url
    if url.password is not None:
        raise InvalidParameterValue(
            f"The database URI {redact_uri(uri)!r} has a password and {ENV_PASSWORD} (or its "
            "file) gives another: give it once, preferably not in the URI.")
    return url.set(password=password)


#: SQLite durability levels a store may run with (``PRAGMA synchronous``), and what each
#: keeps. FULL is the default: a commit is on disk when it returns, so an acknowledged write
#: survives a power loss too; NORMAL (in WAL mode) survives a killed process but can lose the
#: last commits on a power loss or OS crash, for fewer fsyncs.
SYNCHRONOUS_LEVELS = ("FULL", "NORMAL", "EXTRA")
SYNCHRONOUS_ENV = "LOOPML_SQLITE_SYNCHRONOUS"


def sqlite_synchronous(value: str | None = None) -> str:
    """The SQLite durability level: ``value``, else ``$LOOPML_SQLITE_SYNCHRONOUS``, else
    FULL. Raises ``InvalidParameterValue`` for anything but FULL, NORMAL or EXTRA."""
    level = (value if value is not None else os.environ.get(SYNCHRONOUS_ENV) or "FULL").upper()
    if level not in SYNCHRONOUS_LEVELS:
        raise InvalidParameterValue(
            f"{SYNCHRONOUS_ENV}={level!r} is not a SQLite durability level; use FULL (the "
            "default: commits survive a power loss) or NORMAL (survives a killed process, "
            "not a power loss; fewer fsyncs).")
    return level


def _sqlite_on_connect(synchronous: str, dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
    # isolation_level=None hands transaction control to our explicit BEGIN below, which is
    # what lets writers take the write lock up front (BEGIN IMMEDIATE) instead of failing with
    # "database is locked" when they upgrade a read transaction mid-way.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    # FULL: what a commit acknowledged survives a power loss (see SYNCHRONOUS_LEVELS).
    cur.execute(f"PRAGMA synchronous={synchronous}")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_on_begin(conn: Connection) -> None:
    # Readers take no write lock (plain deferred BEGIN); writers take it up front.
    if conn.get_execution_options().get("loopml_readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(uri: str, synchronous: str | None = None) -> Engine:
    """An engine for ``uri``; SQLite connections run at ``sqlite_synchronous(synchronous)``."""
    uri = normalise_uri(uri)
    if uri.startswith("sqlite"):
        level = sqlite_synchronous(synchronous)  # a typo fails here, before any connection
        path = sa.engine.make_url(uri).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(uri, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect",
                        functools.partial(_sqlite_on_connect, level))
        sa.event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return sa.create_engine(_with_password(uri), pool_size=10, max_overflow=20,
                            pool_pre_ping=True)


@contextlib.contextmanager
def migration_lock(engine: Engine) -> Iterator[Connection]:
    """Serialise migrations across processes that start at the same time."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            # A fixed key: every loopml process on this database queues on the same lock.
            conn.exec_driver_sql("SELECT pg_advisory_lock(7355608)")
            conn.commit()
            try:
                yield conn
            finally:
                conn.exec_driver_sql("SELECT pg_advisory_unlock(7355608)")
                conn.commit()
        return
    db = engine.url.database or ""
    lock_path = Path(db + ".migrate.lock") if db and db != ":memory:" else None
    if lock_path is None:
        with engine.connect() as conn:
            yield conn
        return
    with open(lock_path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            with engine.connect() as conn:
                yield conn
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def upgrade(engine: Engine) -> None:
    """Apply Alembic migrations up to head; safe to call from many processes at once."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    with migration_lock(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
