"""Access logs and log levels for both servers (``loopml server`` and ``loopml serve``).

One line per request on the ``loopml.access`` logger::

    GET /v2/models/fraud/infer 200 1.84ms request_id=5f0c...

(method, path without the query string, status, time to the response's first byte in
milliseconds, the ``x-request-id`` of the response or request, ``-`` when none).

Cost on the request path: the middleware times the request and hands a record to a
``QueueHandler``; formatting and the write to stderr happen in a ``QueueListener`` thread,
so a slow terminal or log collector never holds a response. With the access log off (or
the level above INFO) the middleware is a pass-through.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
import time
from typing import Any

LEVELS = ("critical", "error", "warning", "info", "debug")
access_log = logging.getLogger("loopml.access")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
_listener: logging.handlers.QueueListener | None = None
# uvicorn kills a --workers process that does not answer its supervisor's ping within this
# many seconds (its default, 5): a worker importing its models on a CPU-starved node (a pod
# at its CPU limit, a loaded machine) took longer and was killed and restarted in a loop.
WORKER_HEALTHCHECK_S = 30


def check_level(level: str) -> str:
    """``level`` lower-cased if it is one of ``LEVELS``; else a ValueError naming them."""
    low = level.lower()
    if low not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}.")
    return low


def configure_logging(level: str = "info", access: bool = True) -> None:
    """Send the ``loopml`` loggers to stderr at ``level`` through a background thread;
    ``access`` turns the access log on or off. Safe to call more than once (the last call
    wins)."""
    global _listener
    root = logging.getLogger("loopml")
    root.setLevel(check_level(level).upper())
    access_log.setLevel(logging.INFO if access else logging.CRITICAL + 1)
    if _listener is None:
        q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        out = logging.StreamHandler(sys.stderr)
        out.setFormatter(logging.Formatter(FORMAT))
        _listener = logging.handlers.QueueListener(q, out, respect_handler_level=False)
        _listener.start()
        atexit.register(_listener.stop)
        root.addHandler(logging.handlers.QueueHandler(q))
        root.propagate = False  # no second copy through the root logger's handlers


class AccessLogMiddleware:
    """Pure ASGI middleware (no request/response objects built): logs one line per HTTP
    request on ``logger`` at INFO."""

    def __init__(self, app: Any, logger: logging.Logger = access_log) -> None:
        self.app = app
        self.logger = logger

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.logger.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        seen: list[Any] = [500, None, None]  # status, response request id, ms to first byte

        async def timed_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                seen[0] = message["status"]
                seen[2] = (time.perf_counter() - t0) * 1000
                for k, v in message.get("headers", ()):
                    if k == b"x-request-id":
                        seen[1] = v.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            rid = seen[1] or _header(scope, b"x-request-id") or "-"
            ms = seen[2] if seen[2] is not None else (time.perf_counter() - t0) * 1000
            self.logger.info("%s %s %d %.2fms request_id=%s", scope["method"], scope["path"],
                             seen[0], ms, rid)


def _header(scope: Any, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k == name:
            return str(v.decode("latin-1"))[:128]  # a client's value: bounded in the log
    return None


def uvicorn_level(level: str) -> str:
    """uvicorn's own logger level for loopml's ``level``: its INFO lines (process started,
    waiting for startup) stay out of an INFO log; debug and the quieter levels pass."""
    return "warning" if level == "info" else level
