"""Shared fixtures: real services, skipped with a reason when absent, never skipped under CI."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
PG_HOST, PG_PORT = "127.0.0.1", 5432


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    """Skip (or, under CI=true, fail) when a required service does not answer."""
    if port_open(host, port):
        return
    msg = f"{name} is not reachable at {host}:{port}"
    if IN_CI:
        pytest.fail(f"{msg}; CI=true requires it (start the service)")
    pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def postgres_uri() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    need_service("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    name = f"loopml_test_{uuid.uuid4().hex[:12]}"
    admin = f"host={PG_HOST} port={PG_PORT} user=postgres dbname=postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_uri(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path / 'loopml.db'}"


@pytest.fixture
def embedded_home(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """A fresh embedded store (SQLite + local artifacts) for the fluent API and the CLI."""
    monkeypatch.setenv("LOOPML_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPML_TRACKING_URI", raising=False)
    import loopml.tracking._fluent as fluent

    monkeypatch.setattr(fluent, "_client", None)
    monkeypatch.setattr(fluent, "_tracking_uri", None)
    return tmp_path / "home"


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> Iterator[None]:
    """Secret values registered for redaction are process-wide; one test's must not mask
    another's output."""
    yield
    from loopml._redact import forget_secrets

    forget_secrets()
