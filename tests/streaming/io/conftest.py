from __future__ import annotations

from tests.conftest import need_service


def service(port: int, what: str) -> None:
    """Skip (fail under CI=true) when nothing listens on 127.0.0.1:port."""
    need_service(what, "127.0.0.1", port)
