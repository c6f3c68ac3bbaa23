"""Credentials out of messages: every error or log line that shows a store URI shows it
through ``redact_uri`` (one URI) or ``redact_text`` (any text that may quote URIs, such as
a driver's exception), so ``postgresql://app:s3cret@db/ml`` reads
``postgresql://app:***@db/ml``.

Values resolved from the secrets store (``${secret:NAME}``) are registered here with
``register_secret``; ``redact_text`` masks them wherever they appear, and so does every log record made after
the first one was registered (a wrapped log record factory), whichever logger makes it."""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
# userinfo with a password: scheme://user:password@host. The password runs to the last @
# before the path (an unescaped @ in it is masked too, the way SQLAlchemy and urllib split
# it); "http://host:5000/a@b" has no userinfo (the / comes first) and is left alone.
_USERINFO = re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.\-]*://[^\s/:@'\"]*:)(?P<pw>[^\s/'\"]*)@")
# password-like query or keyword parameters: ?password=x, &pwd=x, sslpassword=x, token=x
_PARAM = re.compile(r"(?P<pre>(?:[?&;\s]|^)(?:ssl)?(?:password|passwd|pwd|secret|token)=)"
                    r"(?P<pw>[^&;\s'\"]+)", re.IGNORECASE)


def redact_uri(uri: str) -> str:
    """``uri`` with its password (userinfo or a password-like query parameter) replaced
    by ``***``. Other parts (user, host, database) stay: they help find the mistake."""
    return redact_text(uri)


def redact_text(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***``."""
    text = _USERINFO.sub(lambda m: m.group("pre") + MASK + "@", text)
    return redact_secrets(_PARAM.sub(lambda m: m.group("pre") + MASK, text))


# Values resolved from the secrets store in this process. Short values are not registered:
# masking every "1" or "ab" in every message would hide more than it protects.
_MIN_SECRET_LEN = 4
_known: set[str] = set()
_known_re: re.Pattern[str] | None = None
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Mask ``value`` in everything ``redact_text`` sees from now on (this process)."""
    global _known_re
    if len(value) < _MIN_SECRET_LEN or value in _known:
        return
    with _lock:
        if not _known:
            _install_record_factory()
        _known.add(value)
        # Longest first, so a secret that contains another is masked whole.
        alts = sorted(_known, key=len, reverse=True)
        _known_re = re.compile("|".join(re.escape(v) for v in alts))


def redact_secrets(text: str) -> str:
    """``text`` with every registered secret value replaced by ``***``."""
    pattern = _known_re
    return pattern.sub(MASK, text) if pattern is not None else text


def forget_secrets() -> None:
    """Stop masking the values registered so far (tests: each starts with none known)."""
    global _known_re
    with _lock:
        _known.clear()
        _known_re = None


def _install_record_factory() -> None:
    """Wrap logging's record factory so that every record (any logger, any handler) made
    after a secret was registered carries its message with the secrets masked. Installed
    on the first ``register_secret``, so processes without secrets pay nothing."""
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)  # type: ignore[arg-type]
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string is logging's to report, not ours
            return record
        clean = redact_secrets(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        return record

    logging.setLogRecordFactory(factory)
