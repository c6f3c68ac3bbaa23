"""Threat: secrets leak to whoever reads process listings, error messages or logs (the class
of MLflow's credential-in-URI and token-exposure reports).

- The database password can come from ``LOOPML_BACKEND_STORE_PASSWORD`` or a file
  (``--backend-store-password-file``) instead of the URI (which ``ps`` shows).
- A store URI with a password is shown redacted (``user:***@host``) in every error, in
  the CLI's output and in log lines.
- ``loopml server --workers N`` gives its workers the auth token and the database password
  through 0600 files, so ``/proc/<worker>/environ`` holds neither.
"""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loopml._redact import redact_text, redact_uri
from loopml.errors import InvalidParameterValue
from tests.conftest import free_port

SECRET = "Pw-S3cret-7f1c"  # noqa: S105 - a fake password the tests look for
TOKEN = "tok-9a8b7c6d5e4f"  # noqa: S105


@pytest.mark.parametrize("uri,shown", [
    (f"postgresql://app:{SECRET}@db:5432/ml", "postgresql://app:***@db:5432/ml"),
    (f"postgresql+psycopg://app:{SECRET}@db/ml?sslmode=require",
     "postgresql+psycopg://app:***@db/ml?sslmode=require"),
    (f"mysql://app:{SECRET}@h@db/ml", "mysql://app:***@db/ml"),  # an unescaped @ in it
    (f"postgresql://db/ml?password={SECRET}&sslmode=x", "postgresql://db/ml?password=***&sslmode=x"),
    (f"s3://key:{SECRET}@bucket/prefix", "s3://key:***@bucket/prefix"),
    ("postgresql://app@db/ml", "postgresql://app@db/ml"),
    ("http://127.0.0.1:5000/a@b", "http://127.0.0.1:5000/a@b"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
])
def test_redact_uri(uri: str, shown: str) -> None:
    assert redact_uri(uri) == shown
    assert redact_text(f"could not use '{uri}': refused") == f"could not use '{shown}': refused"


BAD_URIS = [
    f"mysql://app:{SECRET}@db/ml",  # unsupported scheme
    f"postgresql://app:{SECRET}@127.0.0.1:notaport/ml",  # cannot be parsed
    f"postgresql://app:{SECRET}@127.0.0.1:1/ml",  # nothing listens: the driver's error
]


@pytest.mark.parametrize("uri", BAD_URIS)
def test_store_errors_and_logs_never_show_the_password(
        uri: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from loopml.server._factory import build_services

    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as info:  # noqa: PT011 - which one depends on the URI
        build_services(uri, str(tmp_path / "a"))
    assert SECRET not in str(info.value) and SECRET not in repr(info.value)
    if isinstance(info.value, InvalidParameterValue):
        assert "app:***@" in info.value.message
    assert not [r for r in caplog.records if SECRET in r.getMessage()
                or SECRET in str(r.exc_text or "")]


def test_artifact_store_errors_never_show_the_password() -> None:
    from loopml.artifacts import get_blob_store

    with pytest.raises(InvalidParameterValue) as info:
        get_blob_store(f"ftp://u:{SECRET}@host/x")
    assert SECRET not in info.value.message and "u:***@host" in info.value.message


def test_password_from_the_environment_or_a_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from loopml.store._engine import ENV_PASSWORD, _with_password, split_password

    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    monkeypatch.delenv(f"{ENV_PASSWORD}_FILE", raising=False)
    uri = "postgresql+psycopg://app@db:5432/ml"
    assert _with_password(uri).password is None
    monkeypatch.setenv(ENV_PASSWORD, SECRET)
    assert _with_password(uri).password == SECRET
    with pytest.raises(InvalidParameterValue, match="give it once") as info:
        _with_password("postgresql+psycopg://app:Xq7-other-pw@db/ml")
    assert "Xq7-other-pw" not in info.value.message
    monkeypatch.delenv(ENV_PASSWORD)
    pw = tmp_path / "pw"
    pw.write_text(SECRET + "\n")
    monkeypatch.setenv(f"{ENV_PASSWORD}_FILE", str(pw))
    assert _with_password(uri).password == SECRET
    pw.write_text("")
    with pytest.raises(InvalidParameterValue, match="empty"):
        _with_password(uri)
    assert split_password(f"postgresql://app:{SECRET}@db/ml") == ("postgresql://app@db/ml",
                                                                  SECRET)


# ---- the real command, with worker processes --------------------------------------------------

def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "MLFLOW_"))}
    env.update({"LOOPML_HOME": str(tmp_path / "home"), **extra})
    return env


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    pairs = (x.decode(errors="replace").partition("=") for x in raw.split(b"\0") if x)
    return {k: v for k, _, v in pairs}


@pytest.fixture
def server_cmd(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()


def _start(procs: list[subprocess.Popen[bytes]], args: list[str], env: dict[str, str],
           tmp_path: Path) -> tuple[str, subprocess.Popen[bytes]]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "loopml", "server", "--port", str(port),
                             *args], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    procs.append(proc)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return url, proc
        except httpx.TransportError:
            time.sleep(0.2)
    raise AssertionError("server did not start")


def _workers(proc: subprocess.Popen[bytes], n: int) -> list[int]:
    deadline = time.time() + 30
    while time.time() < deadline:
        kids = [p for p in _descendants(proc.pid)
                if "LOOPML_SERVER_BACKEND_STORE_URI" in _environ(p)]
        if len(kids) >= n:
            return kids
        time.sleep(0.2)
    raise AssertionError(f"expected {n} worker processes under {proc.pid}")


SEARCH = "/api/2.0/mlflow/experiments/search"


@pytest.mark.timeout(240)
def test_workers_do_not_hold_the_token_in_their_environment(
        tmp_path: Path, server_cmd: list[subprocess.Popen[bytes]]) -> None:
    url, proc = _start(server_cmd, ["--workers", "2"],
                       _env(tmp_path, LOOPML_AUTH_TOKEN=TOKEN), tmp_path)
    workers = _workers(proc, 2)
    files = set()
    for pid in workers:
        env = _environ(pid)
        assert TOKEN not in "\0".join(f"{k}={v}" for k, v in env.items())
        assert "LOOPML_AUTH_TOKEN" not in env
        files.add(env["LOOPML_AUTH_TOKEN_FILE"])
    (path,) = files
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # Auth still works in every worker (several requests spread over both).
    for _ in range(8):
        assert httpx.get(f"{url}{SEARCH}", params={"max_results": 1}).status_code == 401
        ok = httpx.get(f"{url}{SEARCH}", params={"max_results": 1},
                       headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200, ok.text
    proc.terminate()
    proc.wait(30)
    assert not Path(path).exists()  # removed when the server exits


@pytest.mark.timeout(240)
def test_database_password_stays_out_of_workers_and_output(
        tmp_path: Path, server_cmd: list[subprocess.Popen[bytes]], postgres_uri: str) -> None:
    """The password in the URI (the local server trusts any password) is moved to a file for
    the workers, shown redacted, and found in no response and no output line."""
    base = postgres_uri
    uri = base.replace("postgres@", f"postgres:{SECRET}@")
    url, proc = _start(server_cmd, ["--workers", "2", "--backend-store-uri", uri,
                                    "--artifacts-destination", str(tmp_path / "arts")],
                       _env(tmp_path), tmp_path)
    for pid in _workers(proc, 2):
        env = _environ(pid)
        assert SECRET not in "\0".join(f"{k}={v}" for k, v in env.items())
        assert SECRET not in Path(f"/proc/{pid}/cmdline").read_text()
        assert env["LOOPML_SERVER_BACKEND_STORE_URI"] == base
    bodies = [httpx.get(f"{url}{p}").text for p in (
        "/health", "/version", "/api/3.0/mlflow/server-info", SEARCH + "?max_results=1",
        "/api/2.0/mlflow/experiments/get?experiment_id=999999", "/nothing", "/ui/")]
    assert bodies and not [b for b in bodies if SECRET in b]
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert b"postgres:***@" in out, out
    assert SECRET.encode() not in out + err


@pytest.mark.parametrize("uri", BAD_URIS)
def test_cli_errors_never_show_the_password(uri: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "loopml", "server", "--backend-store-uri", uri,
                        "--port", str(free_port())], env=_env(tmp_path), capture_output=True,
                       timeout=120, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert SECRET.encode() not in r.stdout + r.stderr
    assert b"Error:" in r.stderr and b"Traceback" not in r.stderr


@pytest.mark.timeout(180)
def test_password_file_option(tmp_path: Path, server_cmd: list[subprocess.Popen[bytes]],
                              postgres_uri: str) -> None:
    base = postgres_uri
    pw = tmp_path / "pw"
    pw.write_text(SECRET)
    pw.chmod(0o600)
    url, proc = _start(server_cmd, ["--backend-store-uri", base, "--backend-store-password-file",
                                    str(pw), "--artifacts-destination", str(tmp_path / "a")],
                       _env(tmp_path), tmp_path)
    assert httpx.get(f"{url}{SEARCH}", params={"max_results": 1}).status_code == 200
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert SECRET.encode() not in out + err
    assert pw.exists()  # the user's own file is never removed
