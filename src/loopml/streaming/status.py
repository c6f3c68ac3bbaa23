"""``loopml stream status APP.yaml``: what the brokers say about an app's consumer group,
read without joining it (joining a Kafka group would trigger a rebalance).

Per source: the stream length, the group's lag (entries not yet delivered) and pending
(delivered, not acked), and per consumer its pending count and idle time. Redis Streams and
NATS JetStream report these; for Kafka and MQTT the row says so.
"""

from __future__ import annotations

from typing import Any

from loopml.streaming.appfile import AppFile, SourceSpec


def source_status(app: AppFile, name: str, spec: SourceSpec) -> dict[str, Any]:
    """``{source, url, stream, group, length, lag, pending, consumers: [{name, pending, idle_ms}]}``
    (None where the broker cannot say). Raises BrokerUnavailable when it cannot be reached."""
    row: dict[str, Any] = {"source": name, "url": spec.url, "stream": spec.stream, "group": app.group_name,
                           "length": None, "lag": None, "pending": None, "consumers": []}
    if spec.url.startswith("redis"):
        _redis(row, spec, app.group_name)
    elif spec.url.startswith("nats"):
        _nats(row, spec, app.group_name)
    else:
        row["note"] = "this broker does not report group state without joining the group"
    return row


def _text(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _redis(row: dict[str, Any], spec: SourceSpec, group: str) -> None:
    from loopml.streaming.io.redis_streams import connect

    r = connect(spec.url, attempts=2)
    try:
        if not r.exists(spec.stream):
            row["note"] = "no such stream yet"
            return
        row["length"] = int(r.xlen(spec.stream))
        for g in r.xinfo_groups(spec.stream):
            if _text(g["name"]) == group:
                row["lag"], row["pending"] = g.get("lag"), int(g["pending"])
                owner = r.get(f"{spec.stream}:owner:{group}")
                row["app"] = _text(owner) if owner is not None else None
                row["consumers"] = [{"name": _text(c["name"]), "pending": int(c["pending"]), "idle_ms": int(c["idle"])}
                                    for c in r.xinfo_consumers(spec.stream, group)]
                return
        row["note"] = f"no consumer group {group!r} yet"
    finally:
        r.close()


def _nats(row: dict[str, Any], spec: SourceSpec, group: str) -> None:
    from nats.js.errors import NotFoundError

    from loopml.streaming.io.nats_jetstream import _Conn

    c = _Conn(spec.url, spec.stream, attempts=2)
    try:
        info = c.aio.run(c.js.stream_info(c.stream), timeout_s=10)
        row["length"] = int(info.state.messages)
        try:
            ci = c.aio.run(c.js.consumer_info(c.stream, group), timeout_s=10)
        except NotFoundError:
            row["note"] = f"no consumer {group!r} yet"
            return
        row["lag"], row["pending"] = int(ci.num_pending), int(ci.num_ack_pending)
    finally:
        c.close()


def app_status(app: AppFile) -> list[dict[str, Any]]:
    return [source_status(app, n, s) for n, s in app.sources.items()]


__all__ = ["app_status", "source_status"]
