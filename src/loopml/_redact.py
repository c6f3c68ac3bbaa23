"""Credentials out of messages: every error or log line that shows a store URI shows it
through ``redact_uri`` (one URI) or ``redact_text`` (any text that may quote URIs, such as
a driver's exception), so ``postgresql://app:s3cret@db/ml`` reads
``postgresql://app:***@db/ml``."""

from __future__ import annotations

import re

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
    return _PARAM.sub(lambda m: m.group("pre") + MASK, text)
