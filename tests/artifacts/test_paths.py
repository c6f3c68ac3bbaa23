from __future__ import annotations

from pathlib import Path

import pytest

from loopml.artifacts import confine, get_blob_store
from loopml.artifacts._paths import validate_artifact_location, validate_run_id
from loopml.errors import InvalidParameterValue

HOSTILE = [
    "..", "../x", "a/../../b", "a/..", "./../x", "x/../../../etc/passwd",
    "%2e%2e", "%2e%2e/x", "..%2fx", "%2e%2e%2fx", "%252e%252e%252f", "a%2f..%2f..%2fb",
    "..%5cx", "%5c..%5cx", "..\\x", "a\\..\\..\\b", "\\\\server\\share",
    "/etc/passwd", "/", "//x", "C:\\x", "c:/windows", "a;b", "a#b", "a%23b", "a?b",
    "a\x00b", "a\nb", "a\rb", "a\tb",
    "\uff0e\uff0e/x", "\uff0e\uff0e\uff0fx", "..\u2215x", "..\u2044x", "a\uff0f..",
    "\u2024\u2024/x", "..\u29f8x", "ﬁle/..", "...", " ", "a/ /b", "a/../b",
]


@pytest.mark.parametrize("path", HOSTILE)
def test_confine_rejects(path: str) -> None:
    with pytest.raises(InvalidParameterValue, match="relative path"):
        confine(path)


@pytest.mark.parametrize("path", ["a", "a/b.txt", "a/./b", "model/MLmodel", "dir/", "x y/z-1_2.bin"])
def test_confine_accepts(path: str) -> None:
    assert ".." not in confine(path)


@pytest.fixture(params=["local", "s3"])
def store_and_sentinel(request, tmp_path):
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("secret")
    if request.param == "local":
        return get_blob_store(str(tmp_path / "root" / "inner")), sentinel
    return get_blob_store(request.getfixturevalue("s3_bucket_uri")), sentinel


@pytest.mark.parametrize("path", HOSTILE)
def test_every_operation_rejects(store_and_sentinel, path: str) -> None:
    store, sentinel = store_and_sentinel
    for op in (
        lambda: store.put_bytes(path, b"pwned"),
        lambda: store.get_bytes(path),
        lambda: store.list(path),
        lambda: store.delete(path),
        lambda: store.exists(path),
    ):
        with pytest.raises(InvalidParameterValue):
            op()
    assert sentinel.read_text() == "secret"


def test_symlink_out_of_root_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to(outside)
    store = get_blob_store(str(root))
    with pytest.raises(InvalidParameterValue):
        store.get_bytes("link/secret.txt")
    with pytest.raises(InvalidParameterValue):
        store.put_bytes("link/new.txt", b"x")
    assert not (outside / "new.txt").exists()


def test_run_id_and_location_validation() -> None:
    validate_run_id("0" * 32)
    for bad in ["../x", "A" * 32, "0" * 31, ""]:
        with pytest.raises(InvalidParameterValue):
            validate_run_id(bad)
    for ok in ["/data/mlruns", "s3://b/p", "file:///tmp/x", "mlflow-artifacts:/1"]:
        validate_artifact_location(ok)
    for bad in ["/data/../etc", "s3://b/p?x=1", "s3://b/p#f", "http://evil/x", "s3://b/%2e%2e",
                "ftp://x"]:
        with pytest.raises(InvalidParameterValue):
            validate_artifact_location(bad)
