"""A stream wrapper that computes sha256 and size while the data passes through, so digests
never need a second read of what was uploaded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from loopml.artifacts.base import CHUNK_SIZE


class HashingReader:
    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self.stream.read(n)
        self.digest.update(data)
        self.size += len(data)
        return data

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk
