"""The audit trail's table (migration 0010) on SQLite and PostgreSQL: chained appends,
queries and the chain check.

Appends are serialised across processes (``--workers N``, several servers on one
database): on SQLite every writer begins with BEGIN IMMEDIATE (the database's write lock,
see store/_engine.py); on PostgreSQL a transaction-scoped advisory lock. Under the lock the
writer reads the chain's head (last seq and hash), chains its batch on it and inserts it, so
two writers can never chain on the same head.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from loopml.store import _schema as t

GENESIS = "0" * 64  # the previous hash of the first record
_ADVISORY_KEY = 7355609  # one lock for every loopml process appending to this database
_A = t.audit_log.c
_LIMITS = {c.name: c.type.length for c in t.audit_log.c
           if isinstance(c.type, sa.String) and c.type.length}


@dataclass(frozen=True)
class AuditRecord:
    """One audit record. ``time``: ms since the epoch (UTC). ``outcome``: ``allow``,
    ``deny`` or ``error``. ``seq``, ``prev_hash`` and ``hash`` are set when it is written;
    ``hash`` = sha256(``prev_hash`` + newline + the canonical JSON of the other fields)."""

    time: int
    actor: str
    kind: str
    via: str
    workspace: str
    action: str
    target: str
    outcome: str
    request_id: str = ""
    client: str = ""
    detail: str = ""
    seq: int = 0
    prev_hash: str = ""
    hash: str = ""

    def canonical(self) -> bytes:
        """The bytes the hash covers: every field but the two hashes, keys sorted."""
        body = {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("prev_hash", "hash")}
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)

    def expected_hash(self) -> str:
        return hashlib.sha256(self.prev_hash.encode() + b"\n" + self.canonical()).hexdigest()


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(sa.select(_A.seq, _A.hash).order_by(_A.seq.desc()).limit(1)).first()
    return (int(row.seq), str(row.hash)) if row else (0, GENESIS)


def _chain(records: Sequence[AuditRecord], seq: int, prev: str) -> list[dict[str, Any]]:
    """Rows for ``records`` chained on (``seq``, ``prev``): plain dicts, one hash each
    (the same bytes ``AuditRecord.expected_hash`` covers)."""
    rows = []
    for r in records:
        seq += 1
        row = {n: getattr(r, n) for n in _FIELDS}
        for k, limit in _LIMITS.items():
            v = row.get(k)
            if isinstance(v, str) and len(v) > limit:
                row[k] = v[:limit]
        row["seq"] = seq
        body = orjson.dumps({k: row[k] for k in _HASHED}, option=orjson.OPT_SORT_KEYS)
        row["prev_hash"] = prev
        row["hash"] = prev = hashlib.sha256(prev.encode() + b"\n" + body).hexdigest()
        rows.append(row)
    return rows


def append(engine: Engine, records: Sequence[AuditRecord]) -> list[AuditRecord]:
    """Chain ``records`` onto the log in one transaction; returns them as written."""
    if not records:
        return []
    with engine.begin() as conn:
        _lock(conn)
        rows = _chain(records, *_head(conn))
        conn.execute(sa.insert(t.audit_log), rows)
    return [AuditRecord(**row) for row in rows]


def _row(r: Any) -> AuditRecord:
    return AuditRecord(**{f.name: getattr(r, f.name) for f in fields(AuditRecord)})


def query(engine: Engine, *, actor: str | None = None, action: str | None = None,
          since_ms: int | None = None, until_ms: int | None = None,
          outcome: str | None = None, after_seq: int = 0, limit: int = 100,
          newest_first: bool = True) -> list[AuditRecord]:
    """Records matching every given filter. ``action`` ending in ``*`` is a prefix."""
    q = sa.select(t.audit_log).where(_A.seq > after_seq)
    if actor:
        q = q.where(_A.actor == actor)
    if action:
        q = q.where(_A.action.startswith(action[:-1], autoescape=True) if action.endswith("*")
                    else _A.action == action)
    if since_ms is not None:
        q = q.where(_A.time >= since_ms)
    if until_ms is not None:
        q = q.where(_A.time < until_ms)
    if outcome:
        q = q.where(_A.outcome == outcome)
    q = q.order_by(_A.seq.desc() if newest_first else _A.seq).limit(limit)
    with engine.connect().execution_options(loopml_readonly=True) as conn:
        return [_row(r) for r in conn.execute(q)]


def scan(engine: Engine, page: int = 5000) -> Iterator[AuditRecord]:
    """Every record in chain order, read a page at a time (bounded memory)."""
    after = 0
    while True:
        q = sa.select(t.audit_log).where(_A.seq > after).order_by(_A.seq).limit(page)
        with engine.connect().execution_options(loopml_readonly=True) as conn:
            rows = [_row(r) for r in conn.execute(q)]
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


_FIELDS = tuple(f.name for f in fields(AuditRecord))
_HASHED = tuple(n for n in _FIELDS if n not in ("prev_hash", "hash"))


@dataclass(frozen=True)
class ChainBreak:
    """The first record whose chain does not hold, and why."""

    seq: int
    reason: str


def verify(records: Iterator[AuditRecord]) -> tuple[int, ChainBreak | None]:
    """(records checked, the first break or None). A break is a record whose hash is not
    the hash of its content (edited), whose ``prev_hash`` is not the previous record's hash
    (one removed, reordered or inserted), or a gap in ``seq`` (one removed)."""
    prev, last_seq, n = GENESIS, 0, 0
    for r in records:
        n += 1
        if r.seq != last_seq + 1:
            return n, ChainBreak(r.seq, f"sequence jumps from {last_seq} to {r.seq}: "
                                 "records were removed")
        if r.prev_hash != prev:
            return n, ChainBreak(r.seq, "prev_hash is not the previous record's hash: a "
                                 "record before it was changed, removed or inserted")
        if r.expected_hash() != r.hash:
            return n, ChainBreak(r.seq, "its content does not match its hash: the record "
                                 "was edited")
        prev, last_seq = r.hash, r.seq
    return n, None
