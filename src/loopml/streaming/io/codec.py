"""Event encodings on the wire: many events per message or one.

- ``arrow``: an Arrow IPC stream (one or more record batches); the fastest to decode
  (research/streaming.md §3.2: 21M events/s for batches of 500).
- ``msgpack`` and ``json``: one event (a map), a list of events (maps), or a columnar batch
  ``{"columns": {name: [values...]}}``.
- ``auto`` (decode only): Arrow IPC when the bytes start with the IPC continuation marker
  ``0xFFFFFFFF``, JSON when they start with ``{`` or ``[``, else msgpack.

:func:`decode` returns what :meth:`loopml.streaming.Plan.push` takes (a ``pyarrow.Table``,
a dict of columns, or a list of row dicts) and raises :class:`DecodeError` with the reason
for bytes that are not a valid message (they go to the dead-letter stream).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgpack
import orjson
import pyarrow as pa
import pyarrow.ipc as ipc

Format = Literal["auto", "arrow", "msgpack", "json"]
FORMATS = ("auto", "arrow", "msgpack", "json")
_IPC_MARKER = b"\xff\xff\xff\xff"


class DecodeError(ValueError):
    """The message is not a valid event or batch; ``str(e)`` is the dead-letter reason."""


def encode(events: pa.Table | Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]] | Mapping[str, Any],
           fmt: Format = "msgpack") -> bytes:
    """Bytes for one event (a dict of scalars), a list of events, a dict of columns or an
    Arrow table. ``arrow`` needs a table or columns; ``json``/``msgpack`` write a columnar
    batch for tables and column dicts, and events as they are."""
    if fmt == "arrow":
        table = events if isinstance(events, pa.Table) else pa.table(events)  # type: ignore[arg-type]
        sink = pa.BufferOutputStream()
        with ipc.new_stream(sink, table.schema) as w:
            w.write_table(table)
        return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]
    obj: Any = events
    if isinstance(events, pa.Table):
        obj = {"columns": events.to_pydict()}
    elif isinstance(events, Mapping) and events and all(isinstance(v, list | tuple) for v in events.values()):
        obj = {"columns": {k: list(v) for k, v in events.items()}}
    if fmt == "json":
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    if fmt == "msgpack":
        return msgpack.packb(obj, use_bin_type=True)  # type: ignore[no-any-return]
    raise ValueError(f"unknown format {fmt!r}; formats: arrow, msgpack, json")


def sniff(payload: bytes) -> Format:
    if payload[:4] == _IPC_MARKER:
        return "arrow"
    if payload[:1] in (b"{", b"["):
        return "json"
    return "msgpack"


def decode(payload: bytes, fmt: Format = "auto") -> pa.Table | dict[str, Any] | list[dict[str, Any]]:
    """Events in ``payload``; raises DecodeError("...") when it is malformed."""
    if not payload:
        raise DecodeError("empty message")
    if fmt == "auto":
        fmt = sniff(payload)
    try:
        if fmt == "arrow":
            return ipc.open_stream(pa.py_buffer(payload)).read_all()
        obj = orjson.loads(payload) if fmt == "json" else msgpack.unpackb(payload, raw=False)
    except (pa.ArrowException, OSError, orjson.JSONDecodeError, ValueError, TypeError, msgpack.ExtraData,
            msgpack.FormatError, msgpack.StackError) as e:  # pyarrow reports bad IPC as OSError too; msgpack raises TypeError for a list as a map key
        raise DecodeError(f"not a {fmt} message: {type(e).__name__}: {e}") from None
    return _shape(obj, fmt)


def _shape(obj: Any, fmt: str) -> dict[str, Any] | list[dict[str, Any]]:
    if isinstance(obj, dict):
        cols = obj.get("columns") if len(obj) == 1 else None
        if isinstance(cols, dict):
            lens = {len(v) for v in cols.values() if isinstance(v, list)}
            if len(lens) > 1 or any(not isinstance(v, list) for v in cols.values()):
                raise DecodeError(f"a {fmt} columnar batch needs lists of one length per column")
            return cols
        return [obj]
    if isinstance(obj, list) and all(isinstance(r, dict) for r in obj):
        return obj
    raise DecodeError(f"a {fmt} message holds an event (map), a list of events or "
                      f"{{'columns': {{...}}}}, got {type(obj).__name__}")


def count(events: Any) -> int:
    """Number of events in a :func:`decode` result."""
    if isinstance(events, pa.Table):
        return int(events.num_rows)
    if isinstance(events, dict):
        return len(next(iter(events.values()))) if events else 0
    return len(events)


__all__ = ["FORMATS", "DecodeError", "Format", "count", "decode", "encode", "sniff"]
