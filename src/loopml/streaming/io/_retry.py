"""Connect to a broker with retries and exponential backoff with jitter (tenacity), so a
broker that is restarting is waited for and one that is down gives a clear error instead
of a busy loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import tenacity

from loopml.streaming.io._base import BrokerUnavailable

T = TypeVar("T")


def connect_with_retries(fn: Callable[[], T], what: str, *, attempts: int = 5,
                         base_s: float = 0.2, max_s: float = 5.0,
                         errors: tuple[type[BaseException], ...] = (OSError,)) -> T:
    """``fn()`` retried on ``errors`` up to ``attempts`` times, waiting ``base_s * 2**n``
    (capped at ``max_s``) plus up to ``base_s`` of jitter between tries. Raises
    :class:`BrokerUnavailable` naming ``what`` (e.g. ``"Redis at redis://127.0.0.1:6379"``)
    and the last error once the attempts are spent."""
    try:
        for attempt in tenacity.Retrying(
                stop=tenacity.stop_after_attempt(max(1, attempts)),
                wait=tenacity.wait_exponential_jitter(initial=base_s, max=max_s, jitter=base_s),
                retry=tenacity.retry_if_exception_type(errors), reraise=True):
            with attempt:
                return fn()
    except errors as e:
        raise BrokerUnavailable(
            f"cannot reach {what} after {attempts} attempts with backoff: {type(e).__name__}: {e}. "
            "Is the broker running and the URL right?") from None
    raise AssertionError("unreachable")  # tenacity either returns or raises


__all__ = ["connect_with_retries"]
