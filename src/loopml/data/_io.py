"""Any tabular input -> named numpy columns, the one form profiling and validation read.

Accepted: pandas DataFrame, polars DataFrame, pyarrow Table, a dict of arrays, a 2-D numpy
array, a path to a Parquet or CSV file (read with pyarrow, which is several times faster
than pandas for CSV), or any URI a connector reads (``loopml.data.connectors``: globs,
``s3://``, ``postgresql://...?query=``, ``duckdb://?query=``). Numeric and boolean columns become float64 arrays with NaN for missing;
everything else becomes an object array with None for missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from loopml.errors import InvalidParameterValue

Columns = dict[str, np.ndarray]


def _arrow_column(col: Any) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    t = col.type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return col.to_numpy(zero_copy_only=False).astype(np.float64, copy=False)  # type: ignore[no-any-return]
    if pa.types.is_boolean(t):
        return pc.cast(col, pa.float64()).to_numpy(zero_copy_only=False)  # type: ignore[no-any-return]
    return np.asarray(col.to_pylist(), dtype=object)


def _from_arrow(table: Any) -> Columns:
    return {str(n): _arrow_column(c)
            for n, c in zip(table.column_names, table.columns, strict=True)}


def read_uri(uri: str) -> Any:
    """The whole pyarrow Table a connector URI names (streamed in batches, then joined)."""
    from loopml.data.connectors import open_source

    return open_source(uri).read_table()


def iter_columns(data: Any) -> Iterator[tuple[str, np.ndarray]]:
    """Columns one at a time. For Parquet files only one column is in memory at once, which
    is what keeps profiling a file far below the file's decoded size."""
    from loopml.data.connectors import is_uri

    if is_uri(data):
        table = read_uri(data)
        for name in table.column_names:
            yield str(name), _arrow_column(table.column(name))
        return
    if isinstance(data, str | Path) and Path(data).suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        if not Path(data).is_file():
            raise InvalidParameterValue(f"No such data file: {data}. Pass a Parquet or CSV file.")
        f = pq.ParquetFile(data)
        for name in f.schema_arrow.names:
            yield str(name), _arrow_column(f.read(columns=[name]).column(0))
        return
    yield from to_columns(data).items()


def _from_pandas(frame: pd.DataFrame) -> Columns:
    out: Columns = {}
    for name in frame.columns:
        s = frame[name]
        if s.dtype.kind in "biuf" or pd.api.types.is_numeric_dtype(s.dtype):
            out[str(name)] = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = s.to_numpy(dtype=object)
            mask = pd.isna(arr)
            if mask.any():
                arr = arr.copy()  # pandas may hand out a read-only view
                arr[mask] = None
            out[str(name)] = arr
    return out


def read_path(path: str | Path) -> Columns:
    p = Path(path)
    if not p.is_file():
        raise InvalidParameterValue(f"No such data file: {p}. Pass a Parquet or CSV file.")
    if p.suffix.lower() in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        return _from_arrow(pq.read_table(p))
    if p.suffix.lower() in (".csv", ".tsv", ".txt"):
        import pyarrow.csv as pcsv

        opts = pcsv.ParseOptions(delimiter="\t" if p.suffix.lower() == ".tsv" else ",")
        try:
            return _from_arrow(pcsv.read_csv(p, parse_options=opts))
        except Exception as e:
            raise InvalidParameterValue(f"Cannot read {p} as CSV: {e}") from None
    raise InvalidParameterValue(f"Unsupported data file {p.name}: use .parquet or .csv.")


def to_columns(data: Any) -> Columns:
    """Normalise any accepted input; raises InvalidParameterValue for anything else."""
    from loopml.data.connectors import is_uri

    if is_uri(data):
        return _from_arrow(read_uri(data))
    if isinstance(data, str | Path):
        return read_path(data)
    if isinstance(data, pd.DataFrame):
        return _from_pandas(data)
    mod = type(data).__module__
    if mod.startswith("polars"):
        return _from_arrow(data.to_arrow())
    if mod.startswith("pyarrow") and hasattr(data, "column_names"):
        return _from_arrow(data)
    if isinstance(data, dict):
        return _from_pandas(pd.DataFrame(data))
    if isinstance(data, np.ndarray) and data.ndim == 2:
        return _from_pandas(pd.DataFrame(data, columns=[f"f{i}" for i in range(data.shape[1])]))
    raise InvalidParameterValue(
        f"Cannot read data of type {type(data).__name__}: pass a pandas, polars or pyarrow "
        "table, a dict of arrays, a 2-D array, or a .parquet/.csv path."
    )
