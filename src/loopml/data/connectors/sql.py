"""Databases through SQLAlchemy: ``postgresql://user@host/db?query=SELECT ...``,
``mysql+pymysql://root@host/db?table=events``, any dialect SQLAlchemy has a driver for.

The URI is a SQLAlchemy URL plus one of two loopml parameters, removed before connecting:
``query`` (a SELECT, percent-encoded) or ``table`` (a table name, quoted by the dialect).
Rows stream from a server-side cursor ``batch_rows`` at a time.

Arrow-native path: for PostgreSQL, when ``adbc-driver-postgresql`` is installed, rows come
from ADBC (libpq's binary COPY decoded straight into Arrow buffers, no Python object per
value). Otherwise, and for every other database, rows come through the DB-API driver and are
turned into Arrow one batch at a time (column by column).

Credentials: the password may be written as ``${env:NAME}`` or ``${secret:NAME}`` (see
``connectors.base``) or left out and supplied by the driver's own mechanism (``PGPASSWORD``,
``~/.pgpass``, an option file). Messages show the URI with the password masked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from loopml.data.connectors.base import (
    DEFAULT_BATCH_ROWS,
    DataSource,
    register_source,
    resolve_references,
)
from loopml.errors import (
    InvalidParameterValue,
    LoopmlError,
    PermissionDenied,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    import pyarrow as pa

CONNECT_TIMEOUT_S = 5
_DENIED = ("access denied", "password authentication failed", "permission denied",
           "no password supplied", "authentication failed")


@register_source
class SqlQuery(DataSource):
    """Rows of a query or a table of a SQL database."""

    schemes: ClassVar[tuple[str, ...]] = (
        "postgresql", "postgres", "mysql", "mariadb", "sqlite", "mssql", "oracle")
    kind = "sql"

    def _parse(self) -> tuple[Any, str]:
        """(SQLAlchemy URL without loopml's parameters, the SELECT to run)."""
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        raw = resolve_references(self.uri)
        if raw.startswith("postgres://"):  # the libpq spelling SQLAlchemy does not accept
            raw = "postgresql://" + raw[len("postgres://"):]
        try:
            url = make_url(raw)
        except (ArgumentError, ValueError) as e:
            raise InvalidParameterValue(self.error("not a database URL", e)) from None
        params = dict(url.query)
        query, table = params.pop("query", None), params.pop("table", None)
        if isinstance(query, tuple) or isinstance(table, tuple):
            raise InvalidParameterValue(self.error("bad URI", "give query or table once"))
        url = url.set(query=params)
        if bool(query) == bool(table):
            raise InvalidParameterValue(self.error(
                "what to read", "add ?query=SELECT... (percent-encoded) or ?table=NAME"))
        if table:
            from sqlalchemy import create_mock_engine

            prep = create_mock_engine(url, executor=None).dialect.identifier_preparer
            query = "SELECT * FROM " + ".".join(prep.quote(p) for p in str(table).split("."))
        return url, str(query)

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS,
                columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        url, query = self._parse()
        if columns:
            from sqlalchemy import create_mock_engine

            prep = create_mock_engine(url, executor=None).dialect.identifier_preparer
            query = (f"SELECT {', '.join(prep.quote(c) for c in columns)} "
                     f"FROM ({query}) AS loopml_q")
        if url.get_backend_name() == "postgresql" and _adbc_available():
            yield from self._adbc(url, query, batch_rows)
        else:
            yield from self._dbapi(url, query, batch_rows)

    def _translate(self, e: BaseException, connecting: bool) -> LoopmlError:
        text = str(e).lower()
        if any(d in text for d in _DENIED):
            return PermissionDenied(self.error("permission denied", e))
        if connecting:
            return ServiceUnavailable(self.error(
                "cannot connect to the database (is it running and reachable?)", e))
        return InvalidParameterValue(self.error("the query failed", e))

    def _dbapi(self, url: Any, query: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        import sqlalchemy as sa
        from sqlalchemy.exc import DBAPIError, NoSuchModuleError
        from sqlalchemy.pool import NullPool

        args = {"connect_timeout": CONNECT_TIMEOUT_S} if url.get_backend_name() in (
            "postgresql", "mysql", "mariadb") else {}
        try:
            engine = sa.create_engine(url, poolclass=NullPool, connect_args=args)
        except (NoSuchModuleError, ImportError) as e:
            raise InvalidParameterValue(self.error(
                "no driver for this database; install it (e.g. pymysql for mysql+pymysql)",
                e)) from None
        try:
            try:
                conn = engine.connect()
            except DBAPIError as e:
                raise self._translate(e, connecting=True) from None
            with conn:
                try:
                    result = conn.execution_options(
                        stream_results=True, max_row_buffer=batch_rows).execute(sa.text(query))
                    names = list(result.keys())
                    schema: pa.Schema | None = None
                    for rows in result.partitions(batch_rows):
                        batch = _rows_to_batch(rows, names, schema)
                        schema = batch.schema
                        yield batch
                except DBAPIError as e:
                    raise self._translate(e, connecting=False) from None
        finally:
            engine.dispose()

    def _adbc(self, url: Any, query: str, batch_rows: int) -> Iterator[pa.RecordBatch]:
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc

        libpq = url.set(drivername="postgresql").update_query_dict(
            {"connect_timeout": str(CONNECT_TIMEOUT_S)}).render_as_string(hide_password=False)
        try:
            conn = adbc.connect(libpq)
        except adbc_driver_manager.Error as e:
            raise self._translate(e, connecting=True) from None
        try:
            with conn.cursor() as cur:
                try:
                    cur.execute(query)
                    reader = cur.fetch_record_batch()
                    for batch in reader:
                        for start in range(0, batch.num_rows, batch_rows):
                            yield batch.slice(start, batch_rows)
                except adbc_driver_manager.Error as e:
                    raise self._translate(e, connecting=False) from None
        finally:
            conn.close()


def _adbc_available() -> bool:
    try:
        import adbc_driver_postgresql.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def _rows_to_batch(rows: Sequence[Any], names: list[str], schema: pa.Schema | None
                   ) -> pa.RecordBatch:
    """Row tuples -> one record batch, column by column. Later batches take the first
    batch's types, so a stream keeps one schema (a column that was all NULL in the first
    batch takes its type from the first batch where it is not)."""
    import pyarrow as pa

    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = []
    for i, values in enumerate(cols):
        t = schema.field(i).type if schema is not None else None
        if t is not None and not pa.types.is_null(t):
            arrays.append(pa.array(values, type=t))
        else:
            arr = pa.array(values)
            if pa.types.is_decimal(arr.type):
                # Inferred precision fits this batch's widest value only; a later batch's
                # wider value must fit too, so take the widest precision at this scale.
                arr = arr.cast(pa.decimal128(38, arr.type.scale))
            arrays.append(arr)
    return pa.RecordBatch.from_arrays(arrays, names=names)


__all__ = [
    "SqlQuery",
]
