"""Files on any Arrow file system: local paths, directories and globs, ``s3://`` and (through
fsspec) every other file system fsspec knows (``gs://``, ``abfs://``, ``hdfs://`` ...).

Formats by suffix: Parquet (``.parquet``/``.pq``, read one row group batch at a time),
CSV/TSV (pyarrow's streaming CSV reader), Arrow IPC/Feather (``.arrow``/``.feather``/
``.ipc``) and JSON lines (``.jsonl``/``.ndjson``). A directory means every file of a known
format under it (a partitioned dataset); a glob (``data/*.parquet``, ``s3://b/day=*/x.pq``)
means the files it matches, sorted by path. A glob that matches nothing is an error, not an
empty table.

Each file's size and modification time are read before and after it is read; a difference is
a :class:`DataChanged` error (the batches would mix two versions of the file).

S3: the endpoint comes from ``LOOPML_S3_ENDPOINT_URL`` (or ``MLFLOW_S3_ENDPOINT_URL``,
``AWS_ENDPOINT_URL``), credentials from the AWS chain (``AWS_ACCESS_KEY_ID``/
``AWS_SECRET_ACCESS_KEY``, a profile, an instance role), the region from
``AWS_DEFAULT_REGION``; none of them is ever put in the URI.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from loopml.data.connectors.base import (
    DEFAULT_BATCH_ROWS,
    DataChanged,
    DataSource,
    register_source,
    resolve_references,
)
from loopml.errors import (
    InvalidParameterValue,
    PermissionDenied,
    ResourceDoesNotExist,
    ServiceUnavailable,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

FORMATS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".tsv": "tsv",
           ".txt": "csv", ".arrow": "ipc", ".feather": "ipc", ".ipc": "ipc",
           ".jsonl": "json", ".ndjson": "json"}
_GLOB = ("*", "?", "[")


def file_format(path: str) -> str:
    """The format of ``path`` by its suffix; InvalidParameterValue for an unknown one."""
    dot = path.rfind(".")
    fmt = FORMATS.get(path[dot:].lower()) if dot >= 0 else None
    if fmt is None:
        raise InvalidParameterValue(
            f"Unsupported data file {path.rsplit('/', 1)[-1]}: use one of "
            f"{', '.join(sorted(FORMATS))}.")
    return fmt


class _Files(DataSource):
    """The shared reader: a subclass supplies the file system and the path inside it."""

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        raise NotImplementedError

    def _translate(self, e: OSError, what: str) -> Exception:
        text = str(e)
        low = text.lower()
        if "access_denied" in low or "accessdenied" in low or "403" in low or isinstance(
                e, PermissionError) or "permission denied" in low:
            return PermissionDenied(self.error(f"{what}: permission denied (check the "
                                               "credentials and the bucket policy)", e))
        if ("nosuchbucket" in low or "not_found" in low or "does not exist" in low
                or "no such file" in low or isinstance(e, FileNotFoundError)):
            return ResourceDoesNotExist(self.error(what, e))
        if ("connect" in low or "network" in low or "timed out" in low or "resolve" in low
                or "name or service not known" in low):  # the last: a DNS failure
            return ServiceUnavailable(self.error(f"{what}: cannot reach the store", e))
        return InvalidParameterValue(self.error(what, e))

    def files(self) -> list[tuple[str, pafs.FileInfo]]:
        """(path, info) of every file this URI names, sorted. Raises ResourceDoesNotExist
        for a missing path or a glob that matches nothing."""
        import pyarrow.fs as pafs

        fs, path = self._fs()
        try:
            if any(ch in path for ch in _GLOB):
                infos = self._glob(fs, path)
                if not infos:
                    raise ResourceDoesNotExist(self.error(
                        "no file matches the pattern", "check the path and the wildcards"))
            else:
                info = fs.get_file_info(path)
                if info.type == pafs.FileType.NotFound:
                    raise ResourceDoesNotExist(self.error("does not exist", "check the path"))
                if info.type == pafs.FileType.Directory:
                    sel = pafs.FileSelector(path, recursive=True)
                    infos = [i for i in fs.get_file_info(sel) if i.type == pafs.FileType.File
                             and _known(i.path) and not _hidden(i.path)]
                    if not infos:
                        raise ResourceDoesNotExist(self.error(
                            "the directory holds no data file", f"known: {sorted(FORMATS)}"))
                else:
                    infos = [info]
        except OSError as e:
            raise self._translate(e, "cannot list") from None
        return [(i.path, i) for i in sorted(infos, key=lambda i: i.path)]

    @staticmethod
    def _glob(fs: pafs.FileSystem, pattern: str) -> list[pafs.FileInfo]:
        import pyarrow.fs as pafs

        first = min(pattern.find(ch) for ch in _GLOB if ch in pattern)
        base = pattern[:first].rsplit("/", 1)[0] if "/" in pattern[:first] else ""
        sel = pafs.FileSelector(base or ".", recursive=True, allow_not_found=True)
        out = []
        for info in fs.get_file_info(sel):
            if info.type != pafs.FileType.File:
                continue
            p = info.path
            # fnmatch's * crosses '/', which is what users of ``dir/**/x.parquet`` expect;
            # '**/' also matches no directory at all.
            if fnmatch.fnmatchcase(p, pattern) or fnmatch.fnmatchcase(
                    p, pattern.replace("**/", "")):
                out.append(info)
        return out

    def batches(self, batch_rows: int = DEFAULT_BATCH_ROWS,
                columns: list[str] | None = None) -> Iterator[pa.RecordBatch]:
        fs, _ = self._fs()
        schema = None
        for path, before in self.files():
            for batch in self._read_file(fs, path, batch_rows, columns):
                if schema is None:
                    schema = batch.schema
                elif batch.schema != schema:
                    batch = _conform(batch, schema, self.error(f"{path}", "schema differs "
                                                               "from the first file's"))
                yield batch
            try:
                after = fs.get_file_info(path)
            except OSError as e:
                raise self._translate(e, "cannot stat") from None
            if (after.size, after.mtime_ns) != (before.size, before.mtime_ns):
                raise DataChanged(self.error(
                    f"{path} changed while it was being read (size {before.size} -> "
                    f"{after.size}, modified {before.mtime} -> {after.mtime})",
                    "the digest of what was read would not match the file; read it again"))

    def _read_file(self, fs: pafs.FileSystem, path: str, batch_rows: int,
                   columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        fmt = file_format(path)
        try:
            with fs.open_input_file(path) as f:
                yield from _READERS[fmt](f, batch_rows, columns)
        except OSError as e:
            raise self._translate(e, f"cannot read {path.rsplit('/', 1)[-1]}") from None
        except (KeyError, ValueError) as e:  # a column not in the file; a parse error
            import pyarrow as pa

            if isinstance(e, pa.ArrowInvalid | KeyError):
                raise InvalidParameterValue(self.error(f"cannot read {path} as {fmt}", e)
                                            ) from None
            raise

    def fingerprint(self) -> str:
        """Paths, sizes and modification times of the files: equal fingerprints mean the
        files were not rewritten (cheap: no byte is read)."""
        import hashlib

        h = hashlib.sha256()
        for path, info in self.files():
            h.update(f"{path}\0{info.size}\0{info.mtime_ns}\n".encode())
        return h.hexdigest()[:16]


def _hidden(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.startswith((".", "_"))  # _SUCCESS, .crc, _metadata


def _known(path: str) -> bool:
    dot = path.rfind(".")
    return dot >= 0 and path[dot:].lower() in FORMATS


def _conform(batch: pa.RecordBatch, schema: pa.Schema, message: str) -> pa.RecordBatch:
    """A later file's batch in the first file's column order and types (a safe cast), or
    InvalidParameterValue when the columns differ."""
    import pyarrow as pa

    if set(batch.schema.names) != set(schema.names):
        raise InvalidParameterValue(f"{message}: columns {sorted(batch.schema.names)} vs "
                                    f"{sorted(schema.names)}")
    try:
        return pa.RecordBatch.from_arrays(
            [batch.column(n).cast(schema.field(n).type) for n in schema.names], schema=schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as e:
        raise InvalidParameterValue(f"{message}: {e}") from None


def _parquet(f: Any, batch_rows: int, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(f)
    if columns:
        missing = [c for c in columns if c not in pf.schema_arrow.names]
        if missing:
            raise KeyError(f"no column(s) {missing}; the file has {pf.schema_arrow.names}")
    yield from pf.iter_batches(batch_size=batch_rows, columns=columns)


def _csv(delimiter: str) -> Any:
    def read(f: Any, batch_rows: int, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
        import pyarrow.csv as pcsv

        # block_size bounds the bytes per batch; rows per batch follow from the row width.
        reader = pcsv.open_csv(
            f, read_options=pcsv.ReadOptions(block_size=max(1 << 20, batch_rows * 64)),
            parse_options=pcsv.ParseOptions(delimiter=delimiter),
            convert_options=pcsv.ConvertOptions(include_columns=columns or None))
        for batch in reader:
            yield from _split(batch, batch_rows)
    return read


def _ipc(f: Any, batch_rows: int, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    try:
        reader: Any = pa.ipc.open_file(f)
        it: Iterator[pa.RecordBatch] = (reader.get_batch(i)
                                        for i in range(reader.num_record_batches))
    except pa.ArrowInvalid:
        f.seek(0)
        it = iter(pa.ipc.open_stream(f))
    for batch in it:
        yield from _split(batch.select(columns) if columns else batch, batch_rows)


def _json(f: Any, batch_rows: int, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    import pyarrow.json as pj

    table = pj.read_json(f)  # pyarrow has no streaming JSON reader: whole file
    if columns:
        table = table.select(columns)
    yield from table.to_batches(max_chunksize=batch_rows)


def _split(batch: pa.RecordBatch, rows: int) -> Iterator[pa.RecordBatch]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


_READERS: dict[str, Any] = {"parquet": _parquet, "csv": _csv(","), "tsv": _csv("\t"),
                            "ipc": _ipc, "json": _json}


@register_source
class LocalFiles(_Files):
    """A local path, directory or glob (``file://`` accepted)."""

    schemes: ClassVar[tuple[str, ...]] = ("file",)
    kind = "local"

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        import pyarrow.fs as pafs

        path = self.uri[len("file://"):] if self.uri.startswith("file://") else self.uri
        path = os.path.abspath(os.path.expanduser(path))
        return pafs.LocalFileSystem(), path.replace(os.sep, "/")


def s3_filesystem() -> pafs.FileSystem:
    """pyarrow's S3 file system for loopml's endpoint setting and the AWS credential chain."""
    import pyarrow.fs as pafs

    kwargs: dict[str, Any] = {}
    endpoint = (os.environ.get("LOOPML_S3_ENDPOINT_URL") or os.environ.get(
        "MLFLOW_S3_ENDPOINT_URL") or os.environ.get("AWS_ENDPOINT_URL"))
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host.rstrip("/") or scheme, scheme=scheme if host
                      else "https")
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION")
    if region:
        kwargs["region"] = region
    # Fail in seconds, not the SDK's minutes, when the endpoint does not answer.
    kwargs.update(connect_timeout=5, request_timeout=30,
                  retry_strategy=pafs.AwsStandardS3RetryStrategy(max_attempts=2))
    return pafs.S3FileSystem(**kwargs)


@register_source
class S3Files(_Files):
    """``s3://bucket/key``, ``s3://bucket/prefix/`` (a directory) or a glob in the key."""

    schemes: ClassVar[tuple[str, ...]] = ("s3", "s3a")
    kind = "s3"

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        rest = resolve_references(self.uri).split("://", 1)[1]
        if not rest.split("/", 1)[0]:
            raise InvalidParameterValue(f"{self.redacted}: no bucket; use s3://bucket/key.")
        return s3_filesystem(), rest.rstrip("/")


class FsspecFiles(_Files):
    """Any other fsspec file system (installed separately: gcsfs, adlfs ...), through
    pyarrow's fsspec handler."""

    kind = "fsspec"

    def _fs(self) -> tuple[pafs.FileSystem, str]:
        import fsspec
        import pyarrow.fs as pafs

        try:  # some file systems (ftp, sftp ...) connect when they are made
            fs, path = fsspec.core.url_to_fs(resolve_references(self.uri))
        except OSError as e:
            raise self._translate(e, "cannot open") from None
        return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


__all__ = [
    "FORMATS", "FsspecFiles", "LocalFiles", "S3Files", "file_format", "s3_filesystem",
]
