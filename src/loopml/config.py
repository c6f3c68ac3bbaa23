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

    @classmethod
    def from_env(cls) -> Settings:
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
        )
