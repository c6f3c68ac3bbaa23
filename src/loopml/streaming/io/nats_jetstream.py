"""NATS JetStream (nats-py; async, driven from a private loop thread).

- The JetStream stream for subject ``s`` is named ``s`` with ``.`` replaced by ``_``
  (created with file storage when missing).
- :class:`NatsSource`: a durable pull consumer named after the group; all workers of the
  group share it (JetStream hands each message to one of them). Unacked messages are
  redelivered after ``ack_wait_s`` (also after a crash); ``deliveries`` is JetStream's
  ``num_delivered``; ``lag()`` is the consumer's ``num_pending``. The consumer's
  description records the owning app (:class:`GroupOwned` for another app).
- :class:`NatsPublisher`: ``js.publish`` with up to 256 publishes in flight, each waiting
  for its PubAck; ``ids`` become ``Nats-Msg-Id`` headers, so JetStream drops a duplicate
  published again within the stream's ``duplicate_window`` (2 min by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from loopml.streaming.io._aio import LoopThread
from loopml.streaming.io._base import BrokerFull, BrokerUnavailable, GroupOwned, Message
from loopml.streaming.io._retry import connect_with_retries


def stream_name(subject: str) -> str:
    return subject.replace(".", "_").replace("*", "_").replace(">", "_")


class _Conn:
    def __init__(self, url: str, subject: str, attempts: int = 5) -> None:
        import nats

        self.url, self.subject, self.stream = url, subject, stream_name(subject)
        self.aio = LoopThread()

        async def open_() -> Any:
            return await nats.connect(url, connect_timeout=2, allow_reconnect=True, max_reconnect_attempts=-1)

        def once() -> Any:
            try:
                return self.aio.run(open_(), timeout_s=10)
            except Exception as e:  # nats-py raises its own NoServersError etc.
                raise OSError(str(e) or type(e).__name__) from e

        self.nc = connect_with_retries(once, f"NATS at {url}", attempts=attempts)
        self.js = self.nc.jetstream()
        self.aio.run(self._ensure_stream())

    async def _ensure_stream(self) -> None:
        from nats.js.errors import NotFoundError

        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(name=self.stream, subjects=[self.subject])

    def close(self) -> None:
        try:
            self.aio.run(self.nc.close(), timeout_s=5)
        finally:
            self.aio.stop()


class NatsSource:
    def __init__(self, url: str, subject: str, group: str, consumer: str, *, app: str = "",
                 ack_wait_s: float = 30.0, max_ack_pending: int = 100_000, name: str | None = None) -> None:
        from nats.js.api import ConsumerConfig

        self.name = name or subject
        self.c = _Conn(url, subject)
        self.group, self.consumer = group, consumer
        desc = f"loopml app {app}" if app else None
        cfg = ConsumerConfig(durable_name=group, ack_wait=ack_wait_s, description=desc,
                             max_ack_pending=max_ack_pending)
        try:
            self.sub = self.c.aio.run(self._subscribe(cfg, desc))
        except BaseException:
            self.c.close()
            raise

    async def _subscribe(self, cfg: Any, desc: str | None) -> Any:
        from nats.js.errors import NotFoundError

        try:
            info = await self.c.js.consumer_info(self.c.stream, self.group)
            have = info.config.description
            if desc and have and have != desc:
                raise GroupOwned(f"JetStream consumer {self.group!r} of stream {self.c.stream!r} belongs to "
                                 f"{have!r}, not {desc!r}: give this app its own group")
        except NotFoundError:
            pass
        return await self.c.js.pull_subscribe(self.c.subject, durable=self.group, stream=self.c.stream, config=cfg)

    def read(self, max_messages: int, timeout_s: float) -> list[Message]:
        import nats.errors

        async def fetch() -> list[Any]:
            try:
                return await self.sub.fetch(max_messages, timeout=max(timeout_s, 0.01))  # type: ignore[no-any-return]
            except (TimeoutError, nats.errors.TimeoutError):
                return []

        try:
            msgs = self.c.aio.run(fetch(), timeout_s=timeout_s + 10)
        except nats.errors.ConnectionClosedError as e:
            raise BrokerUnavailable(f"NATS at {self.c.url} closed the connection: {e}") from None
        return [Message(str(m.metadata.sequence.stream), m.data, m.metadata.num_delivered,
                        dict(m.headers or {}), m) for m in msgs]

    def ack(self, messages: Sequence[Message]) -> None:
        async def ack_all() -> None:
            for m in messages:
                await m.token.ack()
            await self.c.nc.flush()

        self.c.aio.run(ack_all(), timeout_s=30)

    def lag(self) -> int | None:
        info = self.c.aio.run(self.c.js.consumer_info(self.c.stream, self.group), timeout_s=10)
        return int(info.num_pending)

    def close(self) -> None:
        self.c.close()


class NatsPublisher:
    def __init__(self, url: str, subject: str) -> None:
        self.c = _Conn(url, subject)

    def publish(self, payloads: Sequence[bytes], ids: Sequence[str] | None = None) -> None:
        from nats.js.errors import APIError

        async def pub() -> None:
            for i in range(0, len(payloads), 256):
                chunk = payloads[i:i + 256]
                hdrs = [{"Nats-Msg-Id": x} for x in ids[i:i + 256]] if ids else [None] * len(chunk)
                await asyncio.gather(*(self.c.js.publish(self.c.subject, p, headers=h)
                                       for p, h in zip(chunk, hdrs, strict=True)))

        try:
            self.c.aio.run(pub(), timeout_s=60)
        except APIError as e:
            if "maximum" in str(e).lower() or "full" in str(e).lower():
                raise BrokerFull(f"JetStream stream {self.c.stream!r} refused the publish: {e}") from None
            raise

    def close(self) -> None:
        self.c.close()


__all__ = ["NatsPublisher", "NatsSource", "stream_name"]
