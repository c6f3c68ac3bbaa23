"""The built-in secrets backend's encryption keys: 32-byte AES-256-GCM keys from a file, a
variable, or a KMS plug-in that unwraps a data key.

A key is written as URL-safe base64 (``generate_key()``; ``loopml secrets keygen``). A key
file may hold several keys, one a line: the first encrypts new versions, the others still
decrypt older ones, so a master key is rotated by putting the new key first and running
``BuiltinSecretBackend.rekey()``. Each stored version records the id of its key (the first
16 hex digits of the key's SHA-256), never the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets as _random
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from loopml.errors import InvalidConfig

if TYPE_CHECKING:
    from loopml.config import Settings

KEY_BYTES = 32
_FIX = ("Make a key with `loopml secrets keygen > /path/key && chmod 600 /path/key` and set "
        "secrets_key_file (LOOPML_SECRETS_KEY_FILE) to its path, or LOOPML_SECRETS_KEY to "
        "its text.")


def generate_key() -> str:
    """A new random key as URL-safe base64 text (44 characters)."""
    return base64.urlsafe_b64encode(_random.token_bytes(KEY_BYTES)).decode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


def decode_key(text: str, where: str) -> bytes:
    """The 32 bytes ``text`` encodes (URL-safe or standard base64). Raises ``InvalidConfig``
    naming ``where`` and the fix."""
    try:
        raw = base64.b64decode(text.strip().replace("-", "+").replace("_", "/"), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise InvalidConfig(f"{where}: not a base64-encoded {KEY_BYTES}-byte key. {_FIX}")
    return raw


class KeyProvider(Protocol):
    """Where the built-in backend gets its keys. ``current`` encrypts new versions;
    ``by_id`` finds the key an older version was encrypted with (``KeyError`` if gone)."""

    def current(self) -> tuple[str, bytes]: ...

    def by_id(self, kid: str) -> bytes: ...


class StaticKeys:
    """Keys held in memory: the first is current. Built by the file and variable sources."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise InvalidConfig(f"No secrets encryption key. {_FIX}")
        self._keys = {key_id(k): k for k in keys}
        self._current = (key_id(keys[0]), keys[0])

    def current(self) -> tuple[str, bytes]:
        return self._current

    def by_id(self, kid: str) -> bytes:
        return self._keys[kid]


def file_keys(path: Path) -> StaticKeys:
    """Keys from ``path``: one per line, the first current; blank and ``#`` lines skipped."""
    where = f"secrets_key_file {path}"
    try:
        lines = Path(path).expanduser().read_text().splitlines()
    except OSError as e:
        raise InvalidConfig(f"{where}: cannot read it ({e.strerror}). {_FIX}") from None
    keys = [decode_key(ln, where) for ln in lines if ln.strip() and not ln.startswith("#")]
    if not keys:
        raise InvalidConfig(f"{where}: the file holds no key. {_FIX}")
    return StaticKeys(keys)


class KmsClient(Protocol):
    """A KMS plug-in: unwraps (decrypts) a data key that the KMS wrapped. An operator
    implements it over their KMS's SDK (AWS KMS ``Decrypt``, Vault transit, ...) and hands
    ``KmsKeys(client, wrapped)`` to ``BuiltinSecretBackend``; the master key never leaves
    the KMS, and only the unwrapped data key is held in memory."""

    def unwrap(self, wrapped_key: bytes) -> bytes: ...


class KmsKeys:
    """Data keys unwrapped by a ``KmsClient``, once each (the first is current)."""

    def __init__(self, client: KmsClient, wrapped_keys: list[bytes]) -> None:
        keys = []
        for w in wrapped_keys:
            k = client.unwrap(w)
            if len(k) != KEY_BYTES:
                raise InvalidConfig(f"The KMS plug-in returned a {len(k)}-byte key; AES-256-GCM "
                                    f"needs {KEY_BYTES} bytes.")
            keys.append(k)
        self._static = StaticKeys(keys)

    def current(self) -> tuple[str, bytes]:
        return self._static.current()

    def by_id(self, kid: str) -> bytes:
        return self._static.by_id(kid)


def key_provider_from_settings(settings: Settings) -> KeyProvider:
    """``secrets_key_file``, else ``LOOPML_SECRETS_KEY`` (or the file its ``_FILE`` names).
    Raises ``InvalidConfig`` (exit 2) with the fix when neither is set."""
    if settings.secrets_key_file is not None:
        return file_keys(settings.secrets_key_file)
    from loopml._secrets import read_secret

    text = read_secret("LOOPML_SECRETS_KEY")
    if text:
        return StaticKeys([decode_key(text, "LOOPML_SECRETS_KEY")])
    raise InvalidConfig(f"The built-in secrets backend needs an encryption key. {_FIX}")


__all__ = ["KEY_BYTES", "KeyProvider", "KmsClient", "KmsKeys", "StaticKeys", "decode_key",
           "file_keys", "generate_key", "key_id", "key_provider_from_settings"]
