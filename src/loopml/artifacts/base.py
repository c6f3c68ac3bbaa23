"""The artifact (blob) store interface.

Backends: ``local.py`` (a folder) and ``s3.py`` (any S3-compatible store, through boto3),
chosen by URI scheme in ``loopml.artifacts.get_blob_store``.

Contract:
- A store has a root (a folder or ``s3://bucket/prefix``). Every ``path`` argument is a
  relative POSIX path below that root. Paths are validated and confined by
  ``loopml.artifacts._paths.confine`` before any I/O: ``..`` segments, absolute paths,
  backslashes, NUL, percent-encoded or double-encoded separators and dots, and unicode
  lookalikes are rejected with ``InvalidParameterValue``; nothing outside the root is touched.
- Writes are streamed (never the whole file in memory) and atomic: data goes to a temporary
  name and is renamed (or, on S3, completed as one multipart upload) only when complete, so a
  reader never sees a partial artifact.
- ``put`` returns the sha256 and size of what was stored.
- A missing path raises ``ResourceDoesNotExist``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """One entry of a listing. ``path`` is relative to the listed directory's root."""

    path: str
    is_dir: bool
    file_size: int | None = None


@dataclass(frozen=True)
class PutResult:
    path: str
    sha256: str
    size: int


class BlobStore(abc.ABC):
    root_uri: str

    @abc.abstractmethod
    def put_stream(self, path: str, stream: BinaryIO) -> PutResult:
        """Store everything read from ``stream`` (read in CHUNK_SIZE pieces) at ``path``."""

    def put_file(self, path: str, local_file: str | Path) -> PutResult:
        with open(local_file, "rb") as f:
            return self.put_stream(path, f)

    def put_bytes(self, path: str, data: bytes) -> PutResult:
        import io

        return self.put_stream(path, io.BytesIO(data))

    def put_dir(self, path: str, local_dir: str | Path) -> list[PutResult]:
        """Upload a local directory tree under ``path`` ("" means the root)."""
        base = Path(local_dir)
        out = []
        for f in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = f.relative_to(base).as_posix()
            out.append(self.put_file(f"{path.rstrip('/')}/{rel}" if path else rel, f))
        return out

    @abc.abstractmethod
    def open_stream(self, path: str) -> Iterator[bytes]:
        """Yield the file's bytes in chunks."""

    def get_bytes(self, path: str) -> bytes:
        return b"".join(self.open_stream(path))

    @abc.abstractmethod
    def get_file(self, path: str, local_file: str | Path) -> None:
        """Download to ``local_file`` (streamed; the local file also appears atomically)."""

    def get_dir(self, path: str, local_dir: str | Path) -> Path:
        """Download a file or a directory tree; return the local path of what was asked."""
        dest = Path(local_dir)
        entries = self.list(path, recursive=True)
        if not entries and self.exists(path):
            target = dest / Path(path).name
            self.get_file(path, target)
            return target
        for e in entries:
            if not e.is_dir:
                self.get_file(f"{path.rstrip('/')}/{e.path}" if path else e.path, dest / e.path)
        return dest

    @abc.abstractmethod
    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        """Entries below ``path`` (a directory). Not recursive: files and immediate
        sub-directories. A missing directory lists as empty, as in MLflow."""

    @abc.abstractmethod
    def exists(self, path: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, path: str) -> None:
        """Delete a file or a whole directory tree. Deleting what is absent is a no-op."""
