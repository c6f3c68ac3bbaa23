"""Brokers and sinks for streaming apps (docs/streaming_apps.md): one file per backend
behind the :class:`Source`, :class:`Publisher` and :class:`Sink` interfaces of ``_base``.
Backend modules import their client library lazily (only the ones an app uses)."""

from __future__ import annotations

from loopml.streaming.io._base import (
    KEY,
    SINK_KINDS,
    BrokerFull,
    BrokerUnavailable,
    GroupOwned,
    Message,
    Publisher,
    Sink,
    Source,
    body,
    register_sink,
    row_keys,
)

__all__ = ["KEY", "SINK_KINDS", "BrokerFull", "BrokerUnavailable", "GroupOwned", "Message", "Publisher",
           "Sink", "Source", "body", "register_sink", "row_keys"]

from loopml.streaming.io import registry as _registry  # noqa: E402,F401  (registers the built-in sink kinds)
