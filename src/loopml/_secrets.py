"""Secrets (auth token, basic-auth password, database password) given to loopml without
putting them where other processes can read them.

A secret comes from an environment variable ``NAME`` or from a file named by ``NAME_FILE``
(``read_secret``). ``loopml server --workers N`` starts worker processes that inherit its
environment, and ``/proc/PID/environ`` of each shows that environment, so before it starts
them the server moves each secret out of the environment into a 0600 temporary file and
leaves only the file's path (``hand_off``); the file is removed when the server exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from loopml.errors import InvalidParameterValue


def file_var(name: str) -> str:
    """The variable that names a file holding secret ``name``: ``NAME_FILE``."""
    return f"{name}_FILE"


def read_secret(name: str) -> str | None:
    """Secret ``name`` from the environment, else from the file ``NAME_FILE`` names (one
    line; surrounding whitespace dropped). None when neither is set. Raises
    ``InvalidParameterValue`` when the file is missing or empty (said, not guessed around)."""
    value = os.environ.get(name)
    if value:
        return value
    path = os.environ.get(file_var(name))
    if not path:
        return None
    try:
        text = Path(path).read_text().strip()
    except OSError as e:
        raise InvalidParameterValue(f"{file_var(name)}={path}: cannot read it ({e.strerror}).") \
            from None
    if not text:
        raise InvalidParameterValue(f"{file_var(name)}={path}: the file is empty.")
    return text


def hand_off(names: Iterable[str]) -> Callable[[], None]:
    """Move every secret in ``names`` that is set in ``os.environ`` into its own 0600
    temporary file, set ``NAME_FILE`` to the file's path and unset ``NAME``. Processes started
    afterwards (``--workers``) read it with ``read_secret``. Returns the clean-up (also run
    at exit) that deletes the files."""
    made: list[str] = []
    for name in names:
        value = os.environ.pop(name, None)
        if not value:
            continue
        fd, path = tempfile.mkstemp(prefix="loopml-secret-")  # 0600, owner only
        with os.fdopen(fd, "w") as fh:
            fh.write(value)
        os.environ[file_var(name)] = path
        made.append(path)

    def cleanup() -> None:
        for path in made:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        made.clear()

    atexit.register(cleanup)
    return cleanup
