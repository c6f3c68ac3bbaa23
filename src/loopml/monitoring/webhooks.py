"""Signed webhook delivery with retries.

Body: the alert as JSON. Headers: ``X-Loopml-Timestamp`` (unix seconds) and
``X-Loopml-Signature: sha256=<hex>``, the HMAC-SHA256 of ``"<timestamp>.<body>"`` under the
webhook's secret (the timestamp is signed too, so a captured delivery cannot be replayed
later with a fresh one). Receivers verify with ``verify_signature``.

Failed deliveries (connection errors, 5xx, 429) are retried with exponential backoff and
jitter; 4xx other than 429 are not retried. Every attempt re-runs the SSRF check.

``url`` and ``secret`` may be ``${secret:NAME}`` references to the secrets store
(``loopml.security.secrets``), so the monitors file holds no secret: they are resolved at
each delivery, never stored resolved, and the values are masked in log lines.

Deliveries are made by ``webhook_consumer``: a consumer of the event log's ``alert.*``
events with its own cursor, not by the monitor that raised the alert.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from loopml.entities import Event
from loopml.errors import InvalidParameterValue, LoopmlError
from loopml.events import Consumer
from loopml.monitoring.ssrf import check_url

log = logging.getLogger("loopml.webhooks")
SIGNATURE_HEADER = "X-Loopml-Signature"
TIMESTAMP_HEADER = "X-Loopml-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str,
                     tolerance_s: int = 300, now: float | None = None) -> bool:
    """For receivers: the signature matches and the timestamp is recent."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((now or time.time()) - ts) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


@dataclass
class Webhook:
    url: str
    secret: str
    allow: Sequence[str] = ()  # hosts / addresses / networks exempt from the SSRF guard
    max_attempts: int = 5
    base_delay_s: float = 0.5
    timeout_s: float = 5.0
    # Resolves ${secret:NAME} in url and secret (default: the settings' backend, built at
    # the first delivery that needs it, in ``secrets_engine``'s database when given).
    secrets: Any = None
    secrets_engine: Any = None

    def __post_init__(self) -> None:
        from loopml.security.secrets import has_refs, parse_refs

        if not self.secret:
            raise InvalidParameterValue("A webhook needs a secret to sign its deliveries.")
        parse_refs(self.secret)  # a malformed reference fails when the spec is loaded
        if has_refs(self.url):
            parse_refs(self.url)  # checked against the SSRF guard once resolved, per delivery
        else:
            check_url(self.url, self.allow)

    def resolved(self) -> tuple[str, str]:
        """(url, secret) with their ``${secret:NAME}`` references resolved now."""
        from loopml.security.secrets import get_secret_backend, has_refs, resolve_refs

        if not has_refs([self.url, self.secret]):
            return self.url, self.secret
        if self.secrets is None:
            self.secrets = get_secret_backend(engine=self.secrets_engine)
        return resolve_refs(self.url, self.secrets), resolve_refs(self.secret, self.secrets)


@dataclass
class Delivery:
    ok: bool
    attempts: int
    status: int | None = None
    error: str = ""
    delays: list[float] = field(default_factory=list)


def deliver(hook: Webhook, payload: dict[str, object],
            sleep: Callable[[float], None] = time.sleep) -> Delivery:
    body = orjson.dumps(payload)
    result = Delivery(False, 0)
    for attempt in range(1, hook.max_attempts + 1):
        result.attempts = attempt
        try:
            url, secret = hook.resolved()  # at use: a rotated secret applies at once
            check_url(url, hook.allow)  # DNS may have changed since configuration
            ts = int(time.time())
            resp = httpx.post(
                url, content=body, timeout=hook.timeout_s, follow_redirects=False,
                headers={"Content-Type": "application/json", TIMESTAMP_HEADER: str(ts),
                         SIGNATURE_HEADER: sign(secret, ts, body)})
            result.status = resp.status_code
            if 200 <= resp.status_code < 300:
                result.ok = True
                return result
            result.error = f"HTTP {resp.status_code}"
            if 300 <= resp.status_code < 400:
                result.error += " (redirects are not followed)"
                return result
            if resp.status_code < 500 and resp.status_code != 429:
                return result  # the receiver rejected it; retrying will not help
        except LoopmlError as e:  # a refused URL, a missing secret: retrying will not help
            result.error = e.message
            return result
        except httpx.HTTPError as e:
            result.error = f"{type(e).__name__}: {e}"
        if attempt < hook.max_attempts:
            delay = hook.base_delay_s * 2 ** (attempt - 1) * (0.5 + random.random() / 2)
            result.delays.append(delay)
            log.warning("webhook %s attempt %d failed (%s); retrying in %.2fs", hook.url,
                        attempt, result.error, delay)
            sleep(delay)
    log.error("webhook %s failed after %d attempts: %s", hook.url, result.attempts, result.error)
    return result


def parse_hooks(raw: Sequence[Mapping[str, Any]], secrets_engine: Any = None) -> list[Webhook]:
    """A monitor spec's ``webhooks`` entries as checked ``Webhook``s (SSRF guard included):
    raises ``InvalidParameterValue`` for a refused URL, a missing secret or a malformed
    ``${secret:NAME}`` reference. ``secrets_engine``: the metadata store's engine, where
    the built-in secrets backend finds the referenced secrets."""
    out = []
    for h in raw:
        allow = h.get("allow") or ()
        out.append(Webhook(str(h["url"]), str(h.get("secret") or ""),
                           tuple(str(a) for a in allow), secrets_engine=secrets_engine))
    return out


def webhook_consumer(store: object, monitor: str, hooks: Sequence[Webhook],
                     interval_s: float = 1.0) -> Consumer:
    """Delivery of one monitor's alert transitions to its webhooks, as an event-log consumer
    with its own cursor (``webhooks:<monitor>``): off the monitor's thread, continued by any
    process after a restart, and a slow receiver delays only its own deliveries. A new
    consumer starts at the present (the alert history is not replayed to a new hook)."""
    from loopml.monitoring.alerts import FIRING, RESOLVED

    def handle(e: Event) -> None:
        if e.payload.get("monitor") != monitor:
            return
        for hook in hooks:
            deliver(hook, {"type": e.type, **e.payload})

    return Consumer(store, f"webhooks:{monitor}", [FIRING, RESOLVED], handle, interval_s)


__all__ = ["SIGNATURE_HEADER", "TIMESTAMP_HEADER", "Delivery", "Webhook", "deliver", "parse_hooks", "sign", "verify_signature", "webhook_consumer"]
