"""DuckDB SQL, typically over Parquet/CSV files: ``duckdb://?query=SELECT * FROM
read_parquet('data/*.parquet') WHERE day >= '2026-01-01'`` (an in-memory database) or
``duckdb:///path/db.duckdb?query=...`` (a database file, opened read-only).

DuckDB pushes projections and filters into the Parquet scan and returns Arrow record batches
natively (``fetch_record_batch``), so a query over many files streams without pandas.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import parse_qs

from loopml.data.connectors.base import (
    DEFAULT_BATCH_ROWS,
    DataSource,
    register_source,
    resolve_references,
)
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist

if TYPE_CHECKING:
    import pyarrow as pa


@register_source
class DuckDBQuery(DataSource):
    """``duckdb://[PATH]?query=SQL``: a DuckDB SQL query (over Parquet/CSV files it names,
    or the database file ``PATH``; in memory without one), read as Arrow record batches.
    Raises ``InvalidParameterValue`` without a query."""

    schemes: ClassVar[tuple[str, ...]] = ("duckdb",)
    kind = "duckdb"

    def _parse(self) -> tuple[str, str]:
        rest = resolve_references(self.uri)[len("duckdb://"):]
        path, _, qs = rest.partition("?")
        params = parse_qs(qs, keep_blank_values=True)
        query = params.get("query", [""])[0].strip()
        if not query:
            raise InvalidParameterValue(self.error(
                "what to read", "add ?query=SELECT ... (percent-encoded)"))
        return path or ":memory:", query

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS,
                columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        import duckdb

        path, query = self._parse()
        if columns:
            cols = ", ".join('"' + c.replace('"', '""') + '"' for c in columns)
            query = f"SELECT {cols} FROM ({query}) AS loopml_q"
        try:
            con = duckdb.connect(path, read_only=path != ":memory:")
        except duckdb.Error as e:
            raise ResourceDoesNotExist(self.error("cannot open the database", e)) from None
        try:
            try:
                reader = con.execute(query).fetch_record_batch(batch_rows)
                yield from reader
            except duckdb.IOException as e:
                raise ResourceDoesNotExist(self.error("the query failed", e)) from None
            except duckdb.Error as e:
                raise InvalidParameterValue(self.error("the query failed", e)) from None
        finally:
            con.close()


__all__ = [
    "DuckDBQuery",
]
