"""Artifact path validation and confinement.

A path from a client is rejected, never "cleaned", when it could mean something other than a
plain relative path: silently stripping ``..`` hides attacks and surprises honest callers.
We reject percent escapes outright rather than decode them, because whether a layer above us
already decoded once (double encoding) cannot be known here.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from loopml.errors import InvalidParameterValue

_ALLOWED_HINT = (
    "Use a relative path of plain segments separated by '/', e.g. 'model/weights.bin' "
    "(no '..', no leading '/', no backslashes, no '%' escapes, no control characters)."
)
_FORBIDDEN_CHARS = set("\\;#?%*\x7f")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def _reject(path: str, why: str) -> InvalidParameterValue:
    return InvalidParameterValue(f"Invalid artifact path {path!r}: {why}. {_ALLOWED_HINT}")


def confine(path: str | None) -> str:
    """Return the canonical relative POSIX form of ``path`` ("" for the root), or raise."""
    if path is None:
        return ""
    if not isinstance(path, str):
        raise _reject(repr(path), "not a string")
    if any(ord(c) < 32 for c in path):
        raise _reject(path, "it contains a control character")
    bad = _FORBIDDEN_CHARS.intersection(path)
    if bad:
        raise _reject(path, f"it contains {''.join(sorted(bad))!r}")
    if unicodedata.normalize("NFKC", path) != path:
        # Fullwidth dots and slashes, division slashes, ligatures: all normalise to something
        # else, and some filesystems or proxies would apply that normalisation for us.
        raise _reject(path, "it contains characters that are unicode lookalikes")
    if any(c in path for c in ("\u2215", "\u2044", "\u29f8", "\uff0f", "\uff3c")):
        raise _reject(path, "it contains a slash lookalike")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise _reject(path, "it is absolute")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise _reject(path, "it contains a '..' segment")
    if any(p.strip(" .") == "" for p in parts):
        raise _reject(path, "a segment is made only of dots or spaces")
    return "/".join(parts)


def join(*parts: str) -> str:
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


def resolve_under(root: Path, rel: str) -> Path:
    """Join ``rel`` (already confined) to ``root`` and prove, after resolving symlinks, that
    the result is still inside ``root``. Defence in depth against symlinks in the store."""
    root_r = root.resolve()
    target = (root_r / confine(rel)).resolve()
    if target != root_r and root_r not in target.parents:
        raise _reject(rel, "it resolves outside the artifact root (through a symlink?)")
    return target


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise InvalidParameterValue(
            f"Invalid run id {run_id!r}: expected 32 lowercase hexadecimal characters."
        )
    return run_id


_LOCATION_SCHEMES = {"", "file", "s3", "mlflow-artifacts"}


def validate_artifact_location(uri: str) -> str:
    """Check an experiment's artifact location supplied by a client."""
    if not isinstance(uri, str) or not uri or any(ord(c) < 32 for c in uri):
        raise InvalidParameterValue(f"Invalid artifact location {uri!r}.")
    parsed = urlsplit(uri)
    scheme = parsed.scheme if len(parsed.scheme) > 1 else ""  # "C:" is not a scheme
    if scheme not in _LOCATION_SCHEMES:
        raise InvalidParameterValue(
            f"Invalid artifact location {uri!r}: scheme {scheme!r} is not supported. Use a "
            "folder path, file://, s3:// or mlflow-artifacts:/."
        )
    if parsed.query or parsed.fragment or "%" in uri:
        raise InvalidParameterValue(
            f"Invalid artifact location {uri!r}: no query string, fragment or '%' escapes."
        )
    if ".." in re.split(r"[/\\]", parsed.path):
        raise InvalidParameterValue(f"Invalid artifact location {uri!r}: '..' is not allowed.")
    return uri
