"""The Redis online store: one hash per (view, entity), Feast-like (Feast keeps one hash per
entity with a field per feature; research/streaming.md §4.1), but one packed field per view:

    key   {prefix}:{view}:{entity key}         prefix default ``lo:default`` (``?prefix=``)
    v     the row: msgpack list of the view's features, in view order (types kept)
    ts    event time of the row, ms since the epoch
    sv    the view's schema version (a row written under another schema reads as missing)

Reads are one ``HMGET`` per key, pipelined (one round trip for any number of entities).
Upserts run a server-side script per batch: the row is written only when its event time is
at least the stored one (latest wins, a replayed batch changes nothing), and the key expires
at ``ts + ttl`` (``PEXPIREAT``), so TTL is per view, finer than Feast's per-entity TTL.
Works on a single Redis node (the script touches many keys; on Redis Cluster every key of
a batch would need one hash slot).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgpack
import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.features.store import Clock, OnlineStore, register_backend
from loopml.features.views import FeatureView

_UPSERT = """
local ttl = tonumber(ARGV[1])
local sv = ARGV[2]
local n = 0
for i, key in ipairs(KEYS) do
  local ts = ARGV[1 + 2 * i]
  local old = redis.call('HGET', key, 'ts')
  if (not old) or tonumber(old) <= tonumber(ts) then
    redis.call('HSET', key, 'v', ARGV[2 + 2 * i], 'ts', ts, 'sv', sv)
    if ttl > 0 then redis.call('PEXPIREAT', key, tonumber(ts) + ttl) end
    n = n + 1
  end
end
return n
"""
_CHUNK = 1000  # keys per script call: long scripts block every other Redis client


class RedisStore(OnlineStore):
    """``redis://host:port/db?prefix=lo:team``; see the module docstring for the layout."""

    scheme = "redis"

    def __init__(self, uri: str, views: Sequence[FeatureView] | Mapping[str, FeatureView],
                 clock: Clock | None = None) -> None:
        super().__init__(views, clock)
        import redis

        parts = urlsplit(uri)
        query = dict(parse_qsl(parts.query))
        self.prefix = query.pop("prefix", "lo:default")
        clean = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
        try:
            self.client = redis.Redis.from_url(clean)
        except ValueError as e:
            raise InvalidParameterValue(f"Online store URI {uri!r}: {e}") from None
        self._upsert = self.client.register_script(_UPSERT)
        self._packer = msgpack.Packer(use_bin_type=True)

    def key(self, view: str, entity: Any) -> str:
        return f"{self.prefix}:{view}:{entity}"

    def write(self, view: str, keys: Sequence[Any] | np.ndarray, columns: Mapping[str, Any],
              event_ms: Sequence[int] | np.ndarray | int) -> int:
        v = self.view(view)
        skeys, rows, times = self._rows(v, keys, columns, event_ms)
        pack = self._packer.pack
        ttl = str(v.ttl or 0)
        sv = v.schema_version
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(skeys), _CHUNK):
            stop = start + _CHUNK
            args: list[Any] = [ttl, sv]
            for row, t in zip(rows[start:stop], times[start:stop], strict=True):
                args += [t, pack(row)]
            self._upsert(keys=[self.key(view, k) for k in skeys[start:stop]], args=args,
                         client=pipe)
        pipe.execute()
        return len(skeys)

    def read(self, view: str, keys: Sequence[Any], names: Sequence[str] | None = None
             ) -> list[list[Any] | None]:
        v = self.view(view)
        idx = v.index(names)
        if len(keys) == 1:  # no pipeline object for the single-entity hot path
            got = [self.client.hmget(self.key(view, keys[0]), "v", "ts", "sv")]
        else:
            pipe = self.client.pipeline(transaction=False)
            for k in keys:
                pipe.hmget(self.key(view, k), "v", "ts", "sv")
            got = pipe.execute()
        now = self.clock() if v.ttl is not None else 0
        sv = v.schema_version.encode()
        out: list[list[Any] | None] = []
        for raw, ts, row_sv in got:
            if raw is None or row_sv != sv or (v.ttl is not None and int(ts or 0) + v.ttl < now):
                out.append(None)
                continue
            row = msgpack.unpackb(raw, raw=False)
            out.append([row[i] for i in idx])
        return out

    def delete(self, view: str, keys: Sequence[Any]) -> None:
        self.view(view)
        if keys:
            self.client.delete(*[self.key(view, k) for k in keys])

    def clear(self) -> int:
        """Delete every key under this store's prefix (tests, re-materialisation); returns
        the number deleted."""
        n = 0
        for batch in _chunks(self.client.scan_iter(match=f"{self.prefix}:*", count=1000), 500):
            n += int(self.client.delete(*batch))
        return n

    def close(self) -> None:
        self.client.close()


def _chunks(it: Any, size: int) -> Any:
    buf: list[Any] = []
    for x in it:
        buf.append(x)
        if len(buf) == size:
            yield buf
            buf = []
    if buf:
        yield buf


def _open(uri: str, views: Any, clock: Clock | None = None) -> RedisStore:
    return RedisStore(uri, views, clock)


for _scheme in ("redis", "rediss", "unix"):
    register_backend(_scheme, _open)

__all__ = ["RedisStore"]
