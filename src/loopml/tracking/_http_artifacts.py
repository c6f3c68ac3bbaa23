"""A BlobStore that reads and writes through a loopml (or MLflow) server's ``mlflow-artifacts``
proxy: what a remote client uses for ``mlflow-artifacts:/`` URIs. Uploads stream the file
from disk; downloads stream to a temp file renamed into place."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import httpx

from loopml.artifacts._hashing import HashingReader
from loopml.artifacts._paths import confine, join
from loopml.artifacts.base import CHUNK_SIZE, BlobStore, FileInfo, PutResult
from loopml.artifacts.local import atomic_write
from loopml.errors import LoopmlError, ResourceDoesNotExist, error_from_code

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


class HttpBlobStore(BlobStore):
    def __init__(self, server_url: str, base_path: str, token: str | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self.base = confine(base_path)
        self.root_uri = f"mlflow-artifacts:/{self.base}"
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=self.server_url, headers=headers, timeout=300)

    def _url(self, path: str) -> str:
        return f"{PROXY}/{quote(join(self.base, confine(path)))}"

    @staticmethod
    def _raise(resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        try:
            err = resp.json()
            raise error_from_code(err.get("error_code", "INTERNAL_ERROR"), err.get("message", ""))
        except ValueError:
            raise LoopmlError(f"artifact request failed with HTTP {resp.status_code}") from None

    def put_stream(self, path: str, stream: BinaryIO) -> PutResult:
        body = HashingReader(stream)
        self._raise(self.http.put(self._url(path), content=iter(body)))
        return PutResult(confine(path), body.digest.hexdigest(), body.size)

    def open_stream(self, path: str) -> Iterator[bytes]:
        with self.http.stream("GET", self._url(path)) as resp:
            if resp.status_code == 404:
                raise ResourceDoesNotExist(f"No artifact at {path!r}.")
            self._raise(resp)
            yield from resp.iter_bytes(CHUNK_SIZE)

    def get_file(self, path: str, local_file: str | Path) -> None:
        import io

        class _Reader(io.RawIOBase):
            def __init__(self, it: Iterator[bytes]) -> None:
                self.it, self.buf = it, b""

            def readable(self) -> bool:
                return True

            def read(self, n: int = -1) -> bytes:
                while n < 0 or len(self.buf) < n:
                    try:
                        self.buf += next(self.it)
                    except StopIteration:
                        break
                out, self.buf = (self.buf, b"") if n < 0 else (self.buf[:n], self.buf[n:])
                return out

        atomic_write(Path(local_file), _Reader(self.open_stream(path)))  # type: ignore[arg-type]

    def list(self, path: str = "", recursive: bool = False) -> list[FileInfo]:
        rel = confine(path)
        resp = self.http.get(PROXY, params={"path": join(self.base, rel)})
        self._raise(resp)
        out = []
        for f in resp.json().get("files", []):
            out.append(FileInfo(f["path"], bool(f.get("is_dir")), f.get("file_size")))
            if recursive and f.get("is_dir"):
                out += [FileInfo(f"{f['path']}/{c.path}", c.is_dir, c.file_size)
                        for c in self.list(join(rel, f["path"]), recursive=True)]
        return out

    def exists(self, path: str) -> bool:
        if self.list(path):
            return True
        try:
            next(iter(self.open_stream(path)), None)
            return True
        except ResourceDoesNotExist:
            return False

    def delete(self, path: str) -> None:
        self._raise(self.http.delete(self._url(path)))
