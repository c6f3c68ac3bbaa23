"""File digests and pickle detection: what makes loading a model folder safe.

- Digests: sha256 of every file is written into MLmodel at save time and checked at load, so
  a truncated upload or a file swapped after registration is caught before it is parsed.
- Pickle detection looks at the bytes, not at what MLmodel claims: a folder whose MLmodel says
  "skops" or "onnx" but whose file is a pickle is refused like any other untrusted pickle.
- ``UntrustedModel`` is the one refusal every flavor raises; it names what was refused and
  says how to trust it. Digests are no defence against a hostile file (whoever writes the
  file writes the digests): what keeps code from running is each flavor's loader.
"""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from loopml.errors import InvalidState, PermissionDenied
from loopml.models._mlmodel import MLMODEL

_CHUNK = 1 << 20


class UntrustedModel(PermissionDenied):
    """Loading would deserialise a pickle, or a file naming code, that the caller has not
    trusted (HTTP 403). ``details["types"]`` lists the refused names where there are some."""


HOW_TO_TRUST = (
    "Loading an untrusted file like this can run arbitrary code. If you trust where this "
    "model came from, pass trust=True (Python), --trust-pickle (CLI: loopml models predict, "
    "loopml serve), or mark the registered version trusted (loopml models trust "
    "models:/<name>/<version>, needs the admin permission)."
)
_LISTED = 20  # names shown in a refusal message; details["types"] has them all


class ModelIntegrityError(InvalidState):
    """A model file's bytes differ from the digest recorded when it was saved."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def model_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MLMODEL
                  and p.relative_to(folder).as_posix() != MLMODEL)


def compute_digests(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in model_files(folder)}


def verify_digests(folder: Path, expected: dict[str, str]) -> None:
    """Raise if a recorded file is missing or changed. Folders saved without digests (e.g.
    by MLflow) pass: there is nothing recorded to compare against."""
    bad = []
    for rel, digest in expected.items():
        p = folder / rel
        if not p.is_file():
            bad.append(f"{rel} (missing)")
        elif sha256_file(p) != digest:
            bad.append(f"{rel} (sha256 differs)")
    if bad:
        raise ModelIntegrityError(
            f"Model folder {folder} does not match the digests recorded when it was saved: "
            f"{', '.join(bad)}. The files were changed or damaged after saving; re-log the "
            "model or fetch it again."
        )


def looks_like_pickle(path: Path) -> bool:
    """True for raw pickles (protocol 2+), joblib's compressed pickles, and torch.save zips."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    if head[:2] in (b"\x1f\x8b", b"ZF", b"BZ") or head[:4] == b"\xfd7zX":
        return True  # gzip / joblib-zlib / bz2 / xz: how joblib stores compressed pickles
    if head[:2] == b"PK":
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            return False
        # torch.save archives hold "<name>/data.pkl"; skops archives hold "schema.json".
        return any(n.endswith("data.pkl") for n in names) and not any(
            n.endswith("constants.pkl") for n in names)
    # Protocol 0/1 pickles are text-like; they start with an opcode and end with '.'.
    with open(path, "rb") as fh:
        data = fh.read(1 << 16)
    return bool(data) and data[:1] in (b"c", b"(", b"]", b"}", b"I", b"S", b"V") and \
        data.rstrip().endswith(b".") and b"\n" in data[:200]


def refuse_untrusted(path: Path, what: str, types: list[str] | None = None) -> UntrustedModel:
    """The refusal for ``path``: ``what`` says why; ``types`` (refused names) are listed in
    the message (the first 20) and in full under ``details["types"]``."""
    if types:
        shown = ", ".join(types[:_LISTED])
        more = f" and {len(types) - _LISTED} more" if len(types) > _LISTED else ""
        what = f"{what}: {shown}{more}"
        return UntrustedModel(f"Refusing to load {path.name}: {what}. {HOW_TO_TRUST}",
                              types=list(types))
    return UntrustedModel(f"Refusing to load {path.name}: {what}. {HOW_TO_TRUST}")
