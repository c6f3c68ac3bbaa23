"""Data connectors: one interface (:class:`DataSource`), one file per backend, chosen by the
URI's scheme.

    from loopml.data.connectors import open_source
    for batch in open_source("s3://bucket/events/day=*/*.parquet").batches(100_000):
        ...

| URI | backend |
|---|---|
| ``path``, ``dir/``, ``data/*.parquet``, ``file://...`` | ``files.LocalFiles`` |
| ``s3://bucket/key`` (globs, prefixes) | ``files.S3Files`` (pyarrow S3) |
| other fsspec schemes (``gs://``, ``abfs://`` ...) | ``files.FsspecFiles`` |
| ``postgresql://...?query=``, ``mysql+pymysql://...?table=`` | ``sql.SqlQuery`` |
| ``duckdb://?query=SELECT ... read_parquet(...)`` | ``duckdb_source.DuckDBQuery`` |
"""

from loopml.data.connectors.base import (
    DataChanged,
    DataSource,
    is_uri,
    open_source,
    register_source,
    registered_schemes,
    resolve_references,
    set_secret_resolver,
)

__all__ = [
    "DataChanged", "DataSource", "is_uri", "open_source", "register_source",
    "registered_schemes", "resolve_references", "set_secret_resolver",
]
