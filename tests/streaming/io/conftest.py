from __future__ import annotations

import os
import socket

import pytest


def service(port: int, what: str) -> None:
    """Skip (fail under CI=true) when nothing listens on 127.0.0.1:port."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what} is not running on 127.0.0.1:{port} (CI=true: required)")
        pytest.skip(f"{what} is not running on 127.0.0.1:{port}")
