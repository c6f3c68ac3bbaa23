from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from loopml.artifacts import BlobStore, get_blob_store
from loopml.errors import InvalidParameterValue, ResourceDoesNotExist


class _Pattern(io.RawIOBase):
    """A large stream generated on the fly, so the test never holds it in memory."""

    def __init__(self, size: int, fail_at: int | None = None) -> None:
        self.size, self.pos, self.fail_at = size, 0, fail_at

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if self.fail_at is not None and self.pos >= self.fail_at:
            raise OSError("stream broke")
        n = self.size - self.pos if n < 0 else min(n, self.size - self.pos)
        out = bytes((self.pos + i) % 251 for i in range(n)) if n < 4096 else (
            (bytes(range(251)) * (n // 251 + 2))[self.pos % 251 : self.pos % 251 + n]
        )
        self.pos += n
        return out


def _expected_sha(size: int) -> str:
    h, s = hashlib.sha256(), _Pattern(size)
    while chunk := s.read(1 << 20):
        h.update(chunk)
    return h.hexdigest()


@pytest.fixture(params=["local", "s3"])
def blobs(request, tmp_path) -> BlobStore:
    if request.param == "local":
        return get_blob_store(str(tmp_path / "root"))
    return get_blob_store(request.getfixturevalue("s3_bucket_uri"))


def test_put_get_list_delete(blobs: BlobStore, tmp_path: Path) -> None:
    r = blobs.put_bytes("a/b/c.txt", b"hello")
    assert r.size == 5 and r.sha256 == hashlib.sha256(b"hello").hexdigest()
    blobs.put_bytes("a/top.txt", b"x")
    assert blobs.get_bytes("a/b/c.txt") == b"hello"
    listing = {(f.path, f.is_dir, f.file_size) for f in blobs.list("a")}
    assert listing == {("b", True, None), ("top.txt", False, 1)}
    assert {f.path for f in blobs.list("a", recursive=True) if not f.is_dir} == {"b/c.txt", "top.txt"}
    assert blobs.list("missing") == []
    assert blobs.exists("a/b/c.txt") and blobs.exists("a/b") and not blobs.exists("nope")
    out = tmp_path / "dl" / "c.txt"
    blobs.get_file("a/b/c.txt", out)
    assert out.read_bytes() == b"hello"
    blobs.delete("a/b")
    assert not blobs.exists("a/b/c.txt") and blobs.exists("a/top.txt")
    with pytest.raises(ResourceDoesNotExist):
        blobs.get_bytes("a/b/c.txt")
    blobs.delete("never/was")  # no-op


def test_big_streamed_file(blobs: BlobStore, tmp_path: Path) -> None:
    size = 20 * 1024 * 1024 + 7
    res = blobs.put_stream("big/blob.bin", _Pattern(size))  # type: ignore[arg-type]
    assert res.size == size and res.sha256 == _expected_sha(size)
    h = hashlib.sha256()
    for chunk in blobs.open_stream("big/blob.bin"):
        h.update(chunk)
    assert h.hexdigest() == res.sha256


def test_failed_stream_leaves_nothing(blobs: BlobStore) -> None:
    with pytest.raises(OSError):
        blobs.put_stream("partial/x.bin", _Pattern(30 << 20, fail_at=10 << 20))  # type: ignore[arg-type]
    assert not blobs.exists("partial/x.bin")
    assert all(not f.path.endswith("x.bin") for f in blobs.list("partial", recursive=True))


def test_put_dir_and_get_dir(blobs: BlobStore, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    blobs.put_dir("model", src)
    dest = blobs.get_dir("model", tmp_path / "dest")
    assert (dest / "a.txt").read_text() == "a" and (dest / "sub" / "b.txt").read_text() == "b"


def test_unknown_scheme() -> None:
    with pytest.raises(InvalidParameterValue):
        get_blob_store("ftp://x/y")


def test_delete_root_of_never_written_store(tmp_path: Path) -> None:
    # Regression: deleting the root of a store whose folder was never created crashed
    # (seen when garbage-collecting a run that logged no artifacts).
    store = get_blob_store(str(tmp_path / "never" / "created"))
    store.delete("")
    assert store.list() == []
