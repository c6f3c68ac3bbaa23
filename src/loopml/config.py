"""Settings read from environment variables; CLI flags override them.

Embedded defaults need nothing: metadata in SQLite and artifacts in a folder, both under
``LOOPML_HOME`` (default ``./.loopml``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def loopml_home() -> Path:
    return Path(os.environ.get("LOOPML_HOME", ".loopml")).resolve()


def default_backend_uri() -> str:
    return f"sqlite:///{loopml_home() / 'loopml.db'}"


def default_artifact_root() -> str:
    return str(loopml_home() / "artifacts")


@dataclass(frozen=True)
class Settings:
    """Server and client settings. ``from_env`` is the single place env vars are read."""

    home: Path = field(default_factory=loopml_home)
    backend_store_uri: str = field(default_factory=default_backend_uri)
    artifacts_destination: str = field(default_factory=default_artifact_root)
    tracking_uri: str | None = None
    auth_token: str | None = None
    basic_auth: tuple[str, str] | None = None
    max_body_bytes: int = 64 * 1024 * 1024
    # The HTTP guard (server/_guard.py): Host headers accepted (empty: localhost names and
    # the bound address), extra origins allowed to send state-changing requests.
    bind_host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()
    cors_allowed_origins: tuple[str, ...] = ()
    # Believe X-Forwarded-Proto/-For: only behind a reverse proxy that sets them.
    trust_proxy: bool = False

    @classmethod
    def from_env(cls) -> Settings:
        """Raises ValueError naming the variable when one holds a malformed value."""
        basic = None
        user, pwd = os.environ.get("LOOPML_AUTH_USERNAME"), os.environ.get("LOOPML_AUTH_PASSWORD")
        if user and pwd:
            basic = (user, pwd)
        return cls(
            backend_store_uri=os.environ.get("LOOPML_BACKEND_STORE_URI", default_backend_uri()),
            artifacts_destination=os.environ.get(
                "LOOPML_ARTIFACTS_DESTINATION", default_artifact_root()
            ),
            tracking_uri=os.environ.get("LOOPML_TRACKING_URI") or None,
            auth_token=os.environ.get("LOOPML_AUTH_TOKEN") or None,
            basic_auth=basic,
            max_body_bytes=_int_env("LOOPML_MAX_BODY_BYTES", 64 * 1024 * 1024),
            bind_host=os.environ.get("LOOPML_SERVER_HOST", "127.0.0.1"),
            allowed_hosts=_list_env("LOOPML_ALLOWED_HOSTS"),
            cors_allowed_origins=_list_env("LOOPML_CORS_ALLOWED_ORIGINS"),
            trust_proxy=os.environ.get("LOOPML_TRUST_PROXY", "").lower() in ("1", "true", "yes"),
        )


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) <= 0:
        raise ValueError(f"{name} must be a positive whole number of bytes; got {raw!r}.")
    return int(raw)


def _list_env(name: str) -> tuple[str, ...]:
    """A comma-separated variable: ``"a, b"`` -> ``("a", "b")``."""
    return tuple(p.strip() for p in os.environ.get(name, "").split(",") if p.strip())
