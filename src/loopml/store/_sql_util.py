"""Small helpers shared by the SQL store modules."""

from __future__ import annotations

import base64
import math
import random
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from loopml.errors import InvalidParameterValue, invalid_param
from loopml.store._schema import VALUE_NAN, VALUE_NEG_ZERO, VALUE_PLAIN

MAX_KEY_LEN = 250
MAX_PARAM_VALUE_LEN = 6000
MAX_TAG_VALUE_LEN = 8000
MAX_NAME_LEN = 250
# Keys may hold letters, digits, and the separators MLflow allows; no control characters.
_KEY_RE = re.compile(r"^[\w\-. /:]+$")


def now_ms() -> int:
    return int(time.time() * 1000)


def encode_value(v: float) -> tuple[float | None, int]:
    """Split a float into what both SQLite and PostgreSQL store faithfully (see _schema)."""
    if math.isnan(v):
        return None, VALUE_NAN
    if v == 0.0 and math.copysign(1.0, v) < 0:
        return 0.0, VALUE_NEG_ZERO
    return v, VALUE_PLAIN


def decode_value(v: float | None, kind: int) -> float:
    if kind == VALUE_NAN or v is None:
        return math.nan
    if kind == VALUE_NEG_ZERO:
        return -0.0
    return float(v)


class json_strings(FunctionElement[Any]):
    """The strings of a JSON array bound as one parameter, as a one-column table ``value``.

    ``col IN (SELECT value FROM json_strings(:ids))`` is one fixed statement for any number
    of ids. An expanding ``IN (:ids)`` is rendered again for every call (a placeholder per
    id), which cost 0.3 ms per query on a 100-run search page, six queries a page.
    """

    inherit_cache = True
    name = "json_strings"


@compiles(json_strings, "sqlite")
def _json_strings_sqlite(el: json_strings, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_each({compiler.process(el.clauses, **kw)})"


@compiles(json_strings, "postgresql")
def _json_strings_pg(el: json_strings, compiler: SQLCompiler, **kw: Any) -> str:
    return f"jsonb_array_elements_text(CAST({compiler.process(el.clauses, **kw)} AS jsonb))"


def in_json_ids(col: sa.ColumnElement[Any], name: str = "ids") -> sa.ColumnElement[bool]:
    """``col IN`` the JSON array of strings bound as ``name`` (pass ``orjson.dumps(ids)``)."""
    strings: sa.Select[Any] = sa.select(sa.column("value")).select_from(
        json_strings(sa.bindparam(name, type_=sa.String))
    )
    return col.in_(strings)


class Prepared:
    """A fixed statement run straight on the driver's cursor, returning plain tuples.

    The hot read paths (search pages, metric histories, run loads) run a handful of fixed
    statements many times. SQLAlchemy's per-execution work (cache key, execution context,
    Row objects) cost more than SQLite's own: about as much as the query on a 100-run page,
    and more than the query on a 20k-point history. The statement is still written and
    compiled by SQLAlchemy, once per dialect; bind values it carries (literals in a filter)
    are kept, and ``params`` supplies the named ones. Only for statements whose columns the
    driver already returns as the right Python type (numbers and text, on sqlite3 and
    psycopg) and whose parameters need no conversion.
    """

    __slots__ = ("_columns", "_compiled", "stmt")

    def __init__(self, stmt: Executable, columns: Sequence[str] | None = None) -> None:
        """``columns``: for an INSERT, the columns its parameters set (the rest keep their
        server defaults)."""
        self.stmt = stmt
        self._columns = list(columns) if columns is not None else None
        self._compiled: dict[str, tuple[str, dict[str, Any], tuple[str, ...] | None]] = {}

    def _compile(self, conn: Connection) -> tuple[str, dict[str, Any], tuple[str, ...] | None]:
        name = conn.dialect.name
        hit = self._compiled.get(name)
        if hit is None:
            # render_postcompile: expanding IN lists (experiment ids, filter IN values) are
            # rendered as one placeholder per value, fixed for this statement.
            c = self.stmt.compile(dialect=conn.dialect,  # type: ignore[attr-defined]
                                  column_keys=self._columns,
                                  compile_kwargs={"render_postcompile": True})
            names = tuple(c.positiontup) if c.positional else None
            hit = self._compiled[name] = (c.string, dict(c.params), names)
        return hit

    def _args(self, conn: Connection, params: dict[str, Any] | None) -> tuple[str, Any]:
        """The SQL and its driver arguments: a tuple for positional drivers (sqlite3), the
        dict for named ones (psycopg)."""
        sql, defaults, names = self._compile(conn)
        values = {**defaults, **params} if params else defaults
        return sql, tuple(values[n] for n in names) if names is not None else values

    def rows(self, conn: Connection, params: dict[str, Any] | None = None) -> list[Any]:
        sql, args = self._args(conn, params)
        with driver_cursor(conn) as cur:
            cur.execute(sql, args)
            return list(cur.fetchall())

    def first(self, conn: Connection, params: dict[str, Any] | None = None) -> Any | None:
        """The first row, or None."""
        rows = self.rows(conn, params)
        return rows[0] if rows else None

    def execute_many(self, conn: Connection, params: Sequence[dict[str, Any]]) -> None:
        """Run a write once per parameter set, in the connection's transaction."""
        if not params:
            return
        args = [self._args(conn, p)[1] for p in params]
        with driver_cursor(conn) as cur:
            cur.executemany(self._compile(conn)[0], args)


@contextmanager
def driver_cursor(conn: Connection) -> Iterator[Any]:
    """A cursor on the DBAPI connection under ``conn``: its statements run in the
    transaction ``conn`` began."""
    cur = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cur
    finally:
        cur.close()


def validate_key(key: object, what: str, where: str) -> str:
    if not isinstance(key, str) or not key:
        raise invalid_param(what, where, "a non-empty string", key)
    if len(key) > MAX_KEY_LEN:
        raise invalid_param(what, where, f"at most {MAX_KEY_LEN} characters long", key[:40] + "...")
    if not _KEY_RE.match(key) or ".." in key.split("/") or key.startswith("/"):
        raise InvalidParameterValue(
            f"The {what} {key!r} of {where} contains characters that are not allowed. Use "
            "letters, digits, underscores, dashes, periods, spaces, colons and slashes, and no "
            "'..' path segments."
        )
    return key


def validate_name(name: object, what: str, where: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise invalid_param(what, where, "a non-empty string", name)
    if len(name) > 500 or any(ord(c) < 32 for c in name):
        raise invalid_param(
            what, where, "at most 500 characters with no control characters", name[:60]
        )
    return name


def encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"offset": offset})).decode()


def decode_page_token(token: str | None, where: str) -> int:
    if not token:
        return 0
    try:
        data: Any = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        offset = int(data["offset"])
        if offset < 0:
            raise ValueError
        return offset
    except Exception:
        raise invalid_param(
            "page_token", where, "a token returned by a previous call", token
        ) from None


def check_max_results(n: object, where: str, limit: int = 50000) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= limit:
        raise invalid_param("max_results", where, f"an int in [1, {limit}]", n)
    return n


_ADJ = ["amber", "bold", "brave", "calm", "clever", "crisp", "eager", "fleet", "gentle", "keen",
        "lucid", "merry", "nimble", "quiet", "rapid", "sunny", "swift", "tidy", "vivid", "witty"]
_NOUN = ["otter", "finch", "heron", "lynx", "panda", "raven", "koala", "ibis", "gecko", "bison",
         "crane", "moth", "newt", "orca", "puma", "quail", "robin", "stoat", "tapir", "wren"]


def generate_run_name() -> str:
    return f"{random.choice(_ADJ)}-{random.choice(_NOUN)}-{random.randint(100, 999)}"
