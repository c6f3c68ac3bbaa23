from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from loopml.streaming.io import codec


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.binary(max_size=64), st.binary(max_size=64).map(lambda b: b"\xff\xff\xff\xff" + b),
                 st.binary(max_size=64).map(lambda b: b"{" + b), st.just(b"\x81\x91\x01\x01")))
def test_decode_raises_only_decode_error(payload: bytes) -> None:
    try:
        out = codec.decode(payload)
    except codec.DecodeError as e:
        assert str(e)
    else:
        assert isinstance(out, pa.Table | dict | list)


def test_round_trips() -> None:
    t = pa.table({"m": ["a", "b"], "v": [1.0, 2.0]})
    for fmt in ("arrow", "msgpack", "json"):
        out = codec.decode(codec.encode(t, fmt))  # type: ignore[arg-type]
        assert codec.count(out) == 2
    assert codec.decode(codec.encode({"m": "a", "v": 1.0})) == [{"m": "a", "v": 1.0}]
    assert codec.decode(b'[{"m": "a"}]', "json") == [{"m": "a"}]
