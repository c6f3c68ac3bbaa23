"""The broker interfaces of streaming apps (docs/streaming_apps.md).

- :class:`Source`: reads messages from a broker in a consumer group and acknowledges them
  once their outputs are durable (at-least-once). One file per backend.
- :class:`Publisher`: appends encoded messages to a broker stream/topic (producers, and
  the ``broker`` sinks that publish actions).
- :class:`Sink`: where a rule's output rows go. ``write`` returns only once the rows are
  durable, and is idempotent when the same rows are written again with the same
  ``offsets`` (a batch replayed after a crash), so at-least-once in + idempotent out is
  effectively once. Sinks are built from ``SINK_KINDS[kind](name, spec)``; other packages
  (the online feature store, the offline Parquet sync) add their kinds with
  :func:`register_sink`.

Offsets are broker positions as text: a Redis entry id ``"1700000000000-3"``, a JetStream
stream sequence ``"42"``, a Kafka ``"partition:offset"``, an MQTT bridge ``"device:seq"``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import pyarrow

from loopml.errors import InvalidState, ServiceUnavailable


class BrokerUnavailable(ServiceUnavailable):
    """The broker cannot be reached (after the retries with backoff)."""


class GroupOwned(InvalidState):
    """The consumer group is already used by another app: two apps sharing a group would
    each see only part of the stream."""


class BrokerFull(ServiceUnavailable):
    """The broker refused a write for lack of memory (Redis ``OOM``, JetStream
    ``DiscardNew``); the caller sheds per its overflow policy and counts."""


@dataclass(frozen=True, slots=True)
class Message:
    """One broker message: ``id`` its offset (text, see the module doc), ``payload`` the
    raw bytes (one event, or a batch of events), ``deliveries`` how often the broker has
    handed it out (1 on the first delivery), ``token`` the backend's handle for acking."""

    id: str
    payload: bytes
    deliveries: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)
    token: Any = None


@runtime_checkable
class Source(Protocol):
    """A consumer-group reader. ``read`` returns at most ``max_messages`` messages (first
    this consumer's own unacked ones after a restart, then new ones), waiting at most
    ``timeout_s`` for the first; ``ack`` marks them done (call it only once their outputs
    are durable); ``lag`` is the number of messages not yet delivered to the group, or
    None when the broker cannot say."""

    name: str

    def read(self, max_messages: int, timeout_s: float) -> list[Message]: ...
    def ack(self, messages: Sequence[Message]) -> None: ...
    def lag(self) -> int | None: ...
    def close(self) -> None: ...


@runtime_checkable
class Publisher(Protocol):
    """Appends messages; ``publish`` returns once the broker accepted them (its
    acknowledgement: Redis reply, JetStream PubAck, Kafka delivery report, MQTT PUBACK).
    ``ids``, when given, are idempotence ids (JetStream ``Nats-Msg-Id``; others ignore them
    or use them for their own de-duplication)."""

    def publish(self, payloads: Sequence[bytes], ids: Sequence[str] | None = None) -> None: ...
    def close(self) -> None: ...


@runtime_checkable
class Sink(Protocol):
    """An output of a streaming app. ``write``: durable when it returns; idempotent when
    replayed with the same offsets. ``offsets`` maps a source name to the last offset of
    that source whose events the table's rows come from. Each row carries ``_key``, its
    idempotence key (the sink's ``key`` columns from the rule file, joined with ``|``; all
    columns when it declares none): a batch replayed after a crash gives rows with the same
    keys, which the sink drops or overwrites."""

    name: str

    def write(self, table: pyarrow.Table, offsets: Mapping[str, str]) -> None: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


SinkFactory = Callable[[str, Mapping[str, Any]], Sink]
# kind -> factory(name, spec). The built-ins register here on import of loopml.streaming.io;
# the features package registers ``online_store`` and ``offline_parquet``.
SINK_KINDS: dict[str, SinkFactory] = {}


# loopml's own packages that register sink kinds when imported; imported (when installed)
# before an app file's sink kinds are checked. A fixed list: a file never names a module.
SINK_MODULES: tuple[str, ...] = ("loopml.features",)


def load_sink_modules() -> None:
    import importlib

    for mod in SINK_MODULES:
        try:
            importlib.import_module(mod)
        except ImportError:
            continue


def register_sink(kind: str, factory: SinkFactory) -> None:
    """Make ``kind`` usable as a sink ``kind`` in app files (replaces an earlier one)."""
    SINK_KINDS[kind] = factory


KEY = "_key"


def row_keys(table: pyarrow.Table) -> list[str]:
    """The ``_key`` of each row (see :class:`Sink`). Raises KeyError without that column."""
    return [str(k) for k in table.column(KEY).to_pylist()]


def body(table: pyarrow.Table) -> pyarrow.Table:
    """The table without ``_key`` (what a sink stores)."""
    return table.drop_columns([KEY]) if KEY in table.column_names else table


__all__ = ["KEY", "SINK_KINDS", "SINK_MODULES", "BrokerFull", "BrokerUnavailable", "GroupOwned", "Message", "Publisher",
           "Sink", "SinkFactory", "Source", "body", "load_sink_modules", "register_sink", "row_keys"]
