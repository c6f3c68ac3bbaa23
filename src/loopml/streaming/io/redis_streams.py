"""Redis Streams: the default broker (research/streaming.md §3.3).

- :class:`RedisStreamSource`: ``XREADGROUP`` in a consumer group. After a restart a
  consumer first re-reads its own pending entries (``... STREAMS s 0``); every
  ``claim_every_s`` it takes over entries that another (dead) consumer left pending for
  longer than ``claim_idle_ms`` with ``XAUTOCLAIM`` (Redis >= 6.2). ``XACK`` only when the
  caller says the outputs are durable. ``lag()`` is ``XINFO GROUPS``' ``lag`` (Redis >= 7.0).
- :class:`RedisStreamPublisher`: pipelined ``XADD`` (field ``d`` = the encoded message),
  optionally capped with ``MAXLEN ~``. A Redis ``OOM`` reply raises :class:`BrokerFull`.
- :class:`RedisStreamSink` (kind ``redis``): one entry per output row, written by a Lua
  script that adds a row only if its idempotence key (``SET NX PX``) is new, so a replayed
  batch adds nothing.

Entries are ``{d: <bytes>}``; an entry without ``d`` is read as one event whose fields are
the entry's fields (numbers parsed), so ``XADD s * machine m1 temp 97`` works too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgpack
import pyarrow as pa

from loopml.streaming.io._base import (
    BrokerFull,
    BrokerUnavailable,
    GroupOwned,
    Message,
    body,
    row_keys,
)
from loopml.streaming.io._retry import connect_with_retries

FIELD = b"d"
# KEYS: the dedup keys; ARGV[1]: stream, ARGV[2]: ttl ms, ARGV[3..]: payloads (one per key).
_IDEMPOTENT_XADD = """
local added = 0
for i, k in ipairs(KEYS) do
  if redis.call('SET', k, '1', 'NX', 'PX', ARGV[2]) then
    redis.call('XADD', ARGV[1], '*', 'd', ARGV[i + 2])
    added = added + 1
  end
end
return added
"""


def connect(url: str, attempts: int = 5) -> Any:
    """A redis-py client for ``url`` that answered PING (retried with backoff)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, health_check_interval=30)
    connect_with_retries(client.ping, f"Redis at {url}", attempts=attempts,
                         errors=(redis.ConnectionError, redis.TimeoutError, OSError))
    return client


def _oom(e: Exception) -> bool:
    """A Redis ``-OOM`` reply (redis-py >= 5 raises OutOfMemoryError; older ones say OOM)."""
    from redis.exceptions import OutOfMemoryError

    return isinstance(e, OutOfMemoryError) or str(e).startswith("OOM") or "maxmemory" in str(e)


class RedisStreamSource:
    """Reads ``stream`` as ``consumer`` of ``group``. ``app``: the app that owns the group
    (recorded at ``<stream>:owner:<group>``; another app using the group raises
    :class:`GroupOwned`). ``start``: where a new group starts (``"0"`` = the whole stream,
    ``"$"`` = new entries only)."""

    def __init__(self, url: str, stream: str, group: str, consumer: str, *, app: str = "",
                 start: str = "0", claim_idle_ms: int = 30_000, claim_every_s: float = 5.0,
                 client: Any = None, name: str | None = None) -> None:
        import redis

        self.name = name or stream
        self.url, self.stream, self.group, self.consumer = url, stream, group, consumer
        self.claim_idle_ms, self.claim_every_s = claim_idle_ms, claim_every_s
        self.r = client or connect(url)
        self._own_pending = True  # re-read this consumer's PEL before new entries
        self._next_claim = 0.0
        self._claim_cursor = "0-0"
        self.claimed = 0  # entries taken over from other consumers (a metric)
        try:
            self.r.xgroup_create(stream, group, id=start, mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise
        if app:
            key = f"{stream}:owner:{group}"
            self.r.set(key, app, nx=True)
            owner = self.r.get(key)
            if owner is not None and owner.decode() != app:
                raise GroupOwned(f"consumer group {group!r} of Redis stream {stream!r} belongs to app "
                                 f"{owner.decode()!r}, not {app!r}: give this app its own group "
                                 f"(or delete {key!r} if that app is gone)")

    def read(self, max_messages: int, timeout_s: float) -> list[Message]:
        """Own pending entries first, then entries claimed from dead consumers, then new
        ones (blocking up to ``timeout_s``)."""
        import redis

        try:
            if self._own_pending:
                got = self._read("0", max_messages, None)
                if got:
                    return self._with_deliveries(got)
                self._own_pending = False
            if time.monotonic() >= self._next_claim:
                got = self._claim(max_messages)
                if got:
                    return self._with_deliveries(got)
            block = max(1, int(timeout_s * 1000)) if timeout_s > 0 else None
            return self._read(">", max_messages, block)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise BrokerUnavailable(f"Redis at {self.url} went away while reading {self.stream!r}: {e}") from None

    def _read(self, cursor: str, count: int, block: int | None) -> list[Message]:
        resp = self.r.xreadgroup(self.group, self.consumer, {self.stream: cursor}, count=count, block=block)
        out: list[Message] = []
        for _stream, entries in resp or []:
            for mid, fields in entries:
                out.append(_message(mid, fields))
        return out

    def _claim(self, count: int) -> list[Message]:
        resp = self.r.xautoclaim(self.stream, self.group, self.consumer, self.claim_idle_ms,
                                 start_id=self._claim_cursor, count=count)
        cursor, entries = resp[0], resp[1]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        if self._claim_cursor == "0-0":  # a full pass over the PEL: wait before the next one
            self._next_claim = time.monotonic() + self.claim_every_s
        out = [_message(mid, fields) for mid, fields in entries if fields is not None]
        self.claimed += len(out)
        return out

    def _with_deliveries(self, msgs: list[Message]) -> list[Message]:
        """Delivery counts from ``XPENDING`` (only for re-read and claimed entries: rare)."""
        if not msgs:
            return msgs
        rows = self.r.xpending_range(self.stream, self.group, min=msgs[0].id, max=msgs[-1].id,
                                     count=len(msgs) * 4, consumername=self.consumer)
        counts = {(r["message_id"].decode() if isinstance(r["message_id"], bytes) else r["message_id"]):
                  int(r["times_delivered"]) for r in rows}
        return [Message(m.id, m.payload, counts.get(m.id, m.deliveries), m.headers, m.token) for m in msgs]

    def ack(self, messages: Sequence[Message]) -> None:
        ids = [m.id for m in messages]
        for i in range(0, len(ids), 5000):
            self.r.xack(self.stream, self.group, *ids[i:i + 5000])

    def lag(self) -> int | None:
        for g in self.r.xinfo_groups(self.stream):
            name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
            if name == self.group:
                lag = g.get("lag")
                return int(lag) if lag is not None else None
        return None

    def pending(self) -> int:
        return int(self.r.xpending(self.stream, self.group)["pending"])

    def close(self) -> None:
        self.r.close()


def _message(mid: bytes | str, fields: Mapping[bytes, bytes] | None) -> Message:
    mid_s = mid.decode() if isinstance(mid, bytes) else mid
    fields = fields or {}
    payload = fields.get(FIELD)
    if payload is None and fields:  # a plain entry: its fields are one event
        payload = msgpack.packb({k.decode(): _scalar(v.decode(errors="replace")) for k, v in fields.items()})
    return Message(mid_s, payload or b"")


def _scalar(v: str) -> Any:
    for cast in (int, float):
        try:
            return cast(v)
        except ValueError:
            pass
    return v


class RedisStreamPublisher:
    """``publish`` = one pipelined round trip of ``XADD``s. ``maxlen``: cap the stream at
    about that many entries (``MAXLEN ~``)."""

    def __init__(self, url: str, stream: str, *, maxlen: int | None = None, client: Any = None) -> None:
        self.url, self.stream, self.maxlen = url, stream, maxlen
        self.r = client or connect(url)

    def publish(self, payloads: Sequence[bytes], ids: Sequence[str] | None = None) -> None:
        import redis

        pipe = self.r.pipeline(transaction=False)
        for p in payloads:
            pipe.xadd(self.stream, {FIELD: p}, maxlen=self.maxlen, approximate=True)
        try:
            pipe.execute()
        except redis.ResponseError as e:
            if _oom(e):
                raise BrokerFull(f"Redis at {self.url} is out of memory (maxmemory): {e}") from None
            raise

    def close(self) -> None:
        self.r.close()


class RedisStreamSink:
    """Sink kind ``redis``: ``{kind: redis, url: ..., stream: ...}``; each row becomes one
    entry ``{d: msgpack(row)}``, added at most once per row key (dedup keys live
    ``dedup_ttl_ms``, default 7 days)."""

    def __init__(self, name: str, url: str, stream: str, *, dedup_ttl_ms: int = 7 * 86_400_000,
                 client: Any = None) -> None:
        self.name, self.url, self.stream, self.ttl = name, url, stream, dedup_ttl_ms
        self.r = client or connect(url)
        self._script = self.r.register_script(_IDEMPOTENT_XADD)
        self.written = 0

    def write(self, table: pa.Table, offsets: Mapping[str, str]) -> None:
        import redis

        if not table.num_rows:
            return
        keys = [f"{self.stream}:dedup:{k}" for k in row_keys(table)]
        rows = [msgpack.packb(r, default=str) for r in body(table).to_pylist()]
        try:
            for i in range(0, len(rows), 500):
                self.written += int(self._script(keys=keys[i:i + 500], args=[self.stream, self.ttl, *rows[i:i + 500]]))
        except redis.ResponseError as e:
            if _oom(e):
                raise BrokerFull(f"Redis at {self.url} is out of memory writing sink {self.name!r}: {e}") from None
            raise

    def flush(self) -> None:
        pass  # each write is durable (as durable as the server's AOF policy) when it returns

    def close(self) -> None:
        self.r.close()


def _sink(name: str, spec: Mapping[str, Any]) -> RedisStreamSink:
    return RedisStreamSink(name, str(spec.get("url", "redis://127.0.0.1:6379/0")),
                           str(spec.get("stream", name)))


__all__ = ["RedisStreamPublisher", "RedisStreamSink", "RedisStreamSource", "connect"]
