"""Events: the metadata store's event log, consumers with cursors, and cron schedules. Used
by pipeline triggers, the loop controller and alert webhooks. See docs/architecture.md."""

from loopml.events import cron
from loopml.events.log import Consumer, Cursor, EventSource, consume

__all__ = ["Consumer", "Cursor", "EventSource", "consume", "cron"]
