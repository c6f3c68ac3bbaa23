"""The audit trail: who did what, to what, with which outcome. Every mutating request
(``_audit_http.AuditMiddleware``) and every security decision (``record_decision``: sign-in,
denial, trust, approval, secret read) appends a record to the ``audit_log`` table of the
metadata store (SQLite or PostgreSQL). Records are hash-chained (``_audit_sql``): editing,
removing or inserting one breaks the chain, which ``loopml audit verify`` finds.

Writes stay off the request path: ``AuditLog.record`` puts the record in a queue and a
background thread appends queued records in batches (one transaction, one chain step per
record) every ``flush_interval_s``. ``close()`` (the server's shutdown, and ``atexit``)
writes whatever is queued, so nothing recorded before a clean shutdown is lost; a killed
process loses at most the last interval's records.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Engine

from loopml.security._audit_sql import (
    AuditRecord,
    ChainBreak,
    append,
    query,
    scan,
    verify,
)
from loopml.security._principal import ANONYMOUS, Principal

log = logging.getLogger("loopml.audit")
OUTCOMES = ("allow", "deny", "error")

__all__ = ["AccessMonitor", "AccessRule", "AuditLog", "AuditRecord", "ChainBreak",
           "outcome_for_status", "record_decision"]


def outcome_for_status(status: int) -> str:
    """``allow`` for 1xx-3xx, ``deny`` for 401/403/429 (refused), ``error`` otherwise."""
    if status < 400:
        return "allow"
    return "deny" if status in (401, 403, 429) else "error"


class AuditLog:
    """The audit trail of one metadata store. ``record`` is cheap and thread-safe; records
    become visible to ``query``/``verify`` after the next flush (``flush()`` forces one)."""

    def __init__(self, engine: Engine, flush_interval_s: float = 0.2,
                 batch: int = 500) -> None:
        self.engine = engine
        self.store: Any = None  # the tracking store it sits beside (for_store), if known
        self.flush_interval_s = flush_interval_s
        self.batch = batch
        self._q: queue.SimpleQueue[AuditRecord] = queue.SimpleQueue()
        self._write_lock = threading.Lock()  # one flush at a time in this process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        # A process that exits without calling close() still writes what it recorded.
        atexit.register(_close_at_exit, weakref.ref(self))

    @classmethod
    def for_store(cls, store: Any, **kw: Any) -> AuditLog | None:
        """The audit log beside a SQL tracking store (None for a REST store: the server it
        talks to keeps the trail)."""
        engine = getattr(store, "engine", None)
        if not isinstance(engine, Engine):
            return None
        audit = cls(engine, **kw)
        audit.store = store
        return audit

    # ---- writing ------------------------------------------------------------------------

    def record(self, action: str, outcome: str, *, principal: Principal | None = None,
               actor: str | None = None, kind: str | None = None, via: str | None = None,
               workspace: str = "default", target: str = "", request_id: str = "",
               client: str = "", detail: str = "", time_ms: int | None = None) -> None:
        """Queue one record. ``principal`` (default: anonymous) gives actor, kind and via;
        ``actor``/``kind``/``via`` override it (a failed sign-in names who tried)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        p = principal or ANONYMOUS
        self._q.put(AuditRecord(
            time=time_ms if time_ms is not None else int(time.time() * 1000),
            actor=actor or p.subject, kind=kind or p.kind.value, via=via or p.via,
            workspace=workspace, action=action, target=target, outcome=outcome,
            request_id=request_id, client=client, detail=detail))
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        if self._thread is not None or self._stop.is_set():
            return
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="loopml-audit",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception:  # the next flush retries the same records
                log.exception("audit flush failed; retrying")

    def flush(self) -> int:
        """Write every queued record now; returns how many. On a database error the batch
        goes back to the front of the queue (nothing is dropped) and the error is raised."""
        n = 0
        with self._write_lock:
            while True:
                items: list[AuditRecord] = []
                while len(items) < self.batch:
                    try:
                        items.append(self._q.get_nowait())
                    except queue.Empty:
                        break
                if not items:
                    return n
                try:
                    append(self.engine, items)
                except Exception:
                    rest = [*items]
                    while True:
                        try:
                            rest.append(self._q.get_nowait())
                        except queue.Empty:
                            break
                    for r in rest:
                        self._q.put(r)
                    raise
                n += len(items)

    def close(self) -> None:
        """Stop the writer thread and write what is queued (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.flush()

    # ---- reading ------------------------------------------------------------------------

    def query(self, **filters: Any) -> list[AuditRecord]:
        """See ``_audit_sql.query``: actor, action (``x*`` a prefix), since_ms, until_ms,
        outcome, after_seq, limit, newest_first."""
        return query(self.engine, **filters)

    def scan(self) -> Iterator[AuditRecord]:
        return scan(self.engine)

    def verify(self) -> tuple[int, ChainBreak | None]:
        """(records checked, the first break or None)."""
        return verify(self.scan())

    def head(self) -> AuditRecord | None:
        """The newest record: keep its hash somewhere else to detect a cut-off tail."""
        newest = query(self.engine, limit=1)
        return newest[0] if newest else None


def _close_at_exit(ref: weakref.ref[AuditLog]) -> None:
    audit = ref()
    if audit is not None:
        audit.close()


def record_decision(request: Any, action: str, outcome: str, *, actor: str | None = None,
                    kind: str | None = None, via: str | None = None,
                    workspace: str = "default", target: str = "", detail: str = "",
                    audit: AuditLog | None = None) -> None:
    """Record a security decision (``login.password``, ``login.oidc``, ``token.use``,
    ``authz.deny``, ``model.trust``, ``loop.approve``, ``secret.read``, ...). ``request``
    (a Starlette request, or None) gives the caller (``request.state.principal``), the
    request id and the client address; ``audit`` defaults to the server's
    (``request.app.state.services.audit``). Does nothing when there is no audit log."""
    principal = None
    request_id = client = ""
    if request is not None:
        principal = getattr(request.state, "principal", None)
        request_id = request.headers.get("x-request-id", "")[:64]
        client = request.client.host if request.client else ""
        if audit is None:
            services = getattr(request.app.state, "services", None)
            audit = getattr(services, "audit", None)
    if audit is None:
        return
    audit.record(action, outcome, principal=principal, actor=actor, kind=kind, via=via,
                 workspace=workspace, target=target, request_id=request_id, client=client,
                 detail=detail)


# The access-anomaly monitor over this trail (imported last: it builds on the alert engine).
from loopml.security._audit_anomaly import AccessMonitor, AccessRule  # noqa: E402
