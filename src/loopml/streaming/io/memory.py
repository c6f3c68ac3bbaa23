"""An in-process broker and sink with the same semantics as the real ones (consumer groups,
pending entries, redelivery of unacked messages, idempotent writes): for examples, tests
and embedding, with no server. Streams live in a :class:`MemoryBroker` the caller owns."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from loopml.streaming.io._base import KEY, Message, body, row_keys


class MemoryBroker:
    """Named append-only streams; ids are ``"<n>"`` (1, 2, ...)."""

    def __init__(self) -> None:
        self.streams: dict[str, list[bytes]] = defaultdict(list)
        self.cursors: dict[tuple[str, str], int] = {}
        self.pending: dict[tuple[str, str], dict[int, str]] = defaultdict(dict)  # idx -> consumer
        self.deliveries: dict[tuple[str, str, int], int] = defaultdict(int)
        self.lock = threading.Condition()

    def publisher(self, stream: str) -> MemoryPublisher:
        return MemoryPublisher(self, stream)

    def source(self, stream: str, group: str, consumer: str) -> MemorySource:
        return MemorySource(self, stream, group, consumer)


class MemoryPublisher:
    def __init__(self, broker: MemoryBroker, stream: str) -> None:
        self.broker, self.stream = broker, stream

    def publish(self, payloads: Sequence[bytes], ids: Sequence[str] | None = None) -> None:
        with self.broker.lock:
            self.broker.streams[self.stream].extend(payloads)
            self.broker.lock.notify_all()

    def close(self) -> None:
        pass


class MemorySource:
    """A consumer of a group: its own pending messages first (after :meth:`reset`, as after
    a restart), then new ones."""

    def __init__(self, broker: MemoryBroker, stream: str, group: str, consumer: str) -> None:
        self.broker, self.stream, self.group, self.consumer = broker, stream, group, consumer
        self.name = stream
        self._own_pending = True
        broker.cursors.setdefault((stream, group), 0)

    def read(self, max_messages: int, timeout_s: float) -> list[Message]:
        b, key = self.broker, (self.stream, self.group)
        with b.lock:
            if self._own_pending:
                mine = sorted(i for i, c in b.pending[key].items() if c == self.consumer)[:max_messages]
                if mine:
                    return [self._deliver(i) for i in mine]
                self._own_pending = False
            if b.cursors[key] >= len(b.streams[self.stream]) and timeout_s > 0:
                b.lock.wait(timeout_s)
            start = b.cursors[key]
            stop = min(len(b.streams[self.stream]), start + max_messages)
            b.cursors[key] = stop
            return [self._deliver(i) for i in range(start, stop)]

    def _deliver(self, i: int) -> Message:
        b, key = self.broker, (self.stream, self.group)
        b.pending[key][i] = self.consumer
        b.deliveries[(*key, i)] += 1
        return Message(str(i + 1), b.streams[self.stream][i], b.deliveries[(*key, i)])

    def ack(self, messages: Sequence[Message]) -> None:
        with self.broker.lock:
            pend = self.broker.pending[(self.stream, self.group)]
            for m in messages:
                pend.pop(int(m.id) - 1, None)

    def lag(self) -> int | None:
        with self.broker.lock:
            return len(self.broker.streams[self.stream]) - self.broker.cursors[(self.stream, self.group)]

    def reset(self) -> None:
        """Forget what was delivered but not acked, as a restarted consumer does."""
        self._own_pending = True

    def close(self) -> None:
        pass


class MemorySink:
    """Sink kind ``memory``: keeps the rows (``rows``) once per row key."""

    def __init__(self, name: str, spec: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.rows: list[dict[str, Any]] = []
        self._seen: set[str] = set()

    def write(self, table: pa.Table, offsets: Mapping[str, str]) -> None:
        keys = row_keys(table) if KEY in table.column_names else [None] * table.num_rows
        for k, row in zip(keys, body(table).to_pylist(), strict=True):
            if k is not None and k in self._seen:
                continue
            if k is not None:
                self._seen.add(k)
            self.rows.append(row)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


__all__ = ["MemoryBroker", "MemoryPublisher", "MemorySink", "MemorySource"]
