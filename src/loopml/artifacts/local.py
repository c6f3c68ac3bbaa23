"""Artifacts in a local folder. Writes go to a temp file beside the target, are fsynced and
renamed into place, so a reader never sees a partial file."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from loopml.artifacts._paths import confine, resolve_under
from loopml.artifacts.base import CHUNK_SIZE, BlobStore, FileInfo, PutResult
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist

_TMP_PREFIX = ".loopml-tmp-"


def atomic_write(dest: Path, stream: BinaryIO) -> tuple[str, int]:
    """Stream into ``dest`` atomically; return (sha256, size)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=_TMP_PREFIX, dir=dest.parent)
    digest, size = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest(), size


class LocalBlobStore(BlobStore):
    def __init__(self, root: str | Path) -> None:
        root = str(root)
        if root.startswith("file://"):
            root = root[len("file://") :]
        self.root = Path(root).resolve()
        self.root_uri = str(self.root)

    def _path(self, path: str) -> Path:
        return resolve_under(self.root, confine(path))

    def put_stream(self, path: str, stream: BinaryIO) -> PutResult:
        rel = confine(path)
        if not rel:
            raise InvalidParameterValue("An artifact path must name a file, not the root.")
        dest = resolve_under(self.root, rel)
        if dest.is_dir():
            raise InvalidParameterValue(f"Artifact path {rel!r} is a directory.")
        sha, size = atomic_write(dest, stream)
        return PutResult(rel, sha, size)

    def open_stream(self, path: str) -> Iterator[bytes]:
        p = self._path(path)
        if not p.is_file():
            raise ResourceDoesNotExist(f"No artifact at {confine(path)!r}.")
        return self._iter(p)

    @staticmethod
    def _iter(p: Path) -> Iterator[bytes]:
        with open(p, "rb") as f:
            while chunk := f.read(CHUNK_SIZE):
                yield chunk

    def get_file(self, path: str, local_file: str | Path) -> None:
        p = self._path(path)
        if not p.is_file():
            raise ResourceDoesNotExist(f"No artifact at {confine(path)!r}.")
        with open(p, "rb") as f:
            atomic_write(Path(local_file), f)

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        base = self._path(path)
        if not base.is_dir():
            return []
        out: list[FileInfo] = []
        entries = sorted(base.rglob("*") if recursive else base.iterdir())
        for e in entries:
            if e.name.startswith(_TMP_PREFIX) or e.is_symlink():
                continue
            rel = e.relative_to(base).as_posix()
            if e.is_dir():
                out.append(FileInfo(rel, True, None))
            else:
                out.append(FileInfo(rel, False, e.stat().st_size))
        return out

    def exists(self, path: str) -> bool:
        return self._path(path).exists()

    def delete(self, path: str) -> None:
        p = self._path(path)
        if p == self.root:
            if not p.is_dir():
                return  # nothing was ever stored (e.g. a run that logged no artifacts)
            # Deleting the root would also remove the folder the store was configured with.
            for child in p.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
            return
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()
