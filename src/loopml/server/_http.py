"""Request parsing, JSON responses and error mapping shared by every route.

Validation happens here, once, with the one message template of ``loopml.errors``: a client
sending the wrong type gets a 400 that names the field, the expected type and what it sent.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import typing
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loopml._json import float_from_json
from loopml.errors import InvalidParameterValue, LoopmlError, RequestTooLarge, invalid_param

if typing.TYPE_CHECKING:  # security._http imports this module
    from loopml.security._principal import Principal

log = logging.getLogger("loopml.server")

# Every integer a route reads is stored as a BIGINT (SQLite INTEGER, PostgreSQL BIGINT) or
# used as a count: a value outside int64 is the client's mistake, not a driver overflow.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT64 = f"an integer in [{INT64_MIN}, {INT64_MAX}]"


def is_int64(v: object) -> bool:
    """A JSON integer (not a bool) that fits a signed 64-bit column."""
    return type(v) is int and INT64_MIN <= v <= INT64_MAX

class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def content_disposition(name: str) -> str:
    """``attachment`` with the file name as RFC 6266 (section 4.3) wants it: an ASCII
    ``filename`` fallback and the exact name as ``filename*=UTF-8''<percent-encoded>``
    (RFC 8187). HTTP headers are Latin-1, so a raw ``報告.txt`` in a header is a server
    error; the percent-encoded form is plain ASCII and every browser and the mlflow client
    decode it."""
    fallback = "".join(c if " " <= c < "\x7f" and c not in '"\\' else "_" for c in name)
    return (f'attachment; filename="{fallback}"; '
            f"filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}")


# RFC 8187 attr-char besides alphanumerics: these need no percent-encoding.
_ATTR_CHARS = "!#$&+-.^_`|~"


def error_response(err: LoopmlError) -> JSONResponse:
    return JSONResponse(err.to_json(), status_code=err.http_status)


class Body:
    """Typed access to a request's fields (JSON body or query string). ``principal`` and
    ``workspace``: who sent it and the workspace it addresses (set by ``_api.api`` from
    ``request.state``; None / ``default`` for bodies built elsewhere)."""

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self.data = data
        self.where = where
        self.principal: Principal | None = None
        self.workspace = "default"

    @property
    def caller(self) -> Principal:
        """``principal``, or ANONYMOUS when the body did not come through a route."""
        from loopml.security._principal import ANONYMOUS

        return self.principal or ANONYMOUS

    def _get(self, name: str, required: bool) -> Any:
        v = self.data.get(name)
        if v is None and required:
            raise InvalidParameterValue(
                f"Missing value for required parameter '{name}' of {self.where}. "
                "See the MLflow REST API reference for the request format."
            )
        return v

    def text(self, name: str, required: bool = False, default: str | None = None) -> str | None:
        v = self._get(name, required)
        if v is None:
            return default
        if isinstance(v, list) and len(v) == 1 and isinstance(v[0], str):
            v = v[0]  # a query-string value given once
        if not isinstance(v, str) or "\x00" in v:  # PostgreSQL refuses NUL in text
            raise invalid_param(name, self.where, "a string (without NUL characters)", v)
        return v

    def req_text(self, name: str) -> str:
        v = self.text(name, required=True)
        assert v is not None
        return v

    def integer(self, name: str, required: bool = False, default: int | None = None) -> int | None:
        v = self._get(name, required)
        if v is None:
            return default
        if isinstance(v, list) and len(v) == 1:
            v = v[0]
        out: int | None = None
        if isinstance(v, bool):
            pass
        elif isinstance(v, int):
            out = v
        elif isinstance(v, float) and v.is_integer():
            out = int(v)
        elif isinstance(v, str) and len(v) <= 24:
            with contextlib.suppress(ValueError):
                out = int(v)  # protobuf JSON sends int64 as strings
        if out is None or not INT64_MIN <= out <= INT64_MAX:
            raise invalid_param(name, self.where, INT64, v)
        return out

    def int_or(self, name: str, default: int) -> int:
        v = self.integer(name)
        return default if v is None else v

    def number(self, name: str, required: bool = False) -> float | None:
        v = self._get(name, required)
        if v is None:
            return None
        try:
            return float_from_json(v)
        except ValueError:
            pass
        raise invalid_param(name, self.where, "a number (or 'NaN', 'Infinity', '-Infinity')", v)

    def flag(self, name: str, default: bool = False) -> bool:
        v = self._get(name, False)
        if v is None:
            return default
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in ("true", "false"):
            return v.lower() == "true"
        raise invalid_param(name, self.where, "a boolean", v)

    def array(self, name: str) -> list[Any]:
        v = self._get(name, False)
        if v is None:
            return []
        if isinstance(v, str):
            return [v]
        if not isinstance(v, list):
            raise invalid_param(name, self.where, "a list", v)
        return v

    def str_list(self, name: str) -> list[str]:
        out = self.array(name)
        for x in out:
            if not isinstance(x, str):
                raise invalid_param(name, self.where, "a list of strings", out)
        return out

    def objects(self, name: str) -> list[Body]:
        out = []
        for i, x in enumerate(self.array(name)):
            if not isinstance(x, dict):
                raise invalid_param(f"{name}[{i}]", self.where, "an object", x)
            out.append(Body(x, f"{self.where} ({name}[{i}])"))
        return out

    def key_values(self, name: str) -> list[tuple[str, str]]:
        """``[{key, value}, ...]`` as used for tags and params."""
        out = []
        for b in self.objects(name):
            out.append((b.req_text("key"), b.text("value", default="") or ""))
        return out


async def read_body(request: Request, limit: int, advice: str) -> bytes:
    """The whole request body, refused with ``RequestTooLarge`` (413) as soon as it exceeds
    ``limit`` bytes: on its Content-Length before reading, else while streaming (a chunked
    upload has none). ``advice`` ends the message: what the client or operator can do."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > limit:
        raise RequestTooLarge(
            f"Request body of {length} bytes exceeds the limit of {limit} bytes. {advice}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"Request body exceeds the limit of {limit} bytes. {advice}")
        chunks.append(chunk)
    return b"".join(chunks)


def is_json_type(content_type: str | None) -> bool:
    """``application/json`` or a ``+json`` type, parameters (charset) aside."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


# Structural objects cannot hide in a string, so b"{" counts bound them from above (at
# memory speed). Only above the bound are strings blanked to count exactly (tag values may
# hold JSON), and only for bodies small enough that the regex stays a few ms.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_EXACT_COUNT_MAX_BYTES = 2 * 1024 * 1024


def too_many_objects(raw: bytes, max_objects: int) -> int | None:
    """The number of JSON objects in ``raw`` when it exceeds ``max_objects`` (a lower bound
    for large bodies), else None. Nothing is parsed: this runs before ``orjson.loads`` so
    that an oversize batch costs no objects (a 64 MB log-batch would cost ~1 GB)."""
    n = raw.count(b"{")
    if n <= max_objects:
        return None
    if len(raw) <= _EXACT_COUNT_MAX_BYTES:
        n = _JSON_STRING.sub(b'""', raw).count(b"{")
    return n if n > max_objects else None


async def read_json(request: Request, limit: int, where: str,
                    max_objects: int | None = None) -> Body:
    """Query string (GET, body-less DELETE) or JSON body -> ``Body``.

    Errors: 413 above ``limit`` bytes; 400 for a body whose Content-Type is not JSON (a
    page can send ``text/plain`` or an untyped body cross-origin without a preflight, so
    only a JSON type is taken, as MLflow does), that is not a JSON object, or that holds
    more than ``max_objects`` objects (checked on the raw bytes, before any is built).
    """
    if request.method == "GET" or request.method == "DELETE" and not request.headers.get(
        "content-length"
    ):
        data: dict[str, Any] = {}
        for k, v in request.query_params.multi_items():
            if k in data:
                prev = data[k]
                data[k] = [*prev, v] if isinstance(prev, list) else [prev, v]
            else:
                data[k] = v
        return Body(data, where)
    raw = await read_body(request, limit, "Split it into smaller requests (e.g. several "
                          "log-batch calls), or raise the server's --max-body-mb.")
    if not raw.strip():
        return Body({}, where)
    ctype = request.headers.get("content-type")
    if not is_json_type(ctype):
        raise InvalidParameterValue(
            f"Bad Request. Content-Type must be one of ['application/json'] for {where}; got "
            f"{ctype!r}.")
    if max_objects is not None and (n := too_many_objects(raw, max_objects)) is not None:
        raise InvalidParameterValue(
            f"The body of {where} holds {n} JSON objects (counting '{{'); it takes at most "
            f"{max_objects}. Split it into several requests.")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise InvalidParameterValue(f"The body of {where} is not valid JSON: {e}.") from None
    if not isinstance(data, dict):
        raise InvalidParameterValue(f"The body of {where} must be a JSON object.")
    return Body(data, where)


Handler = Callable[[Request], Awaitable[Response]]


def guarded(fn: Handler) -> Handler:
    """Turn loopml errors into MLflow error bodies and anything else into a logged 500."""

    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except LoopmlError as e:
            return error_response(e)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.url.path)
            return JSONResponse(
                {"error_code": "INTERNAL_ERROR", "message": "Internal server error; see the server log."},
                status_code=500,
            )

    return wrapper


_CHECKS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "str": (str, "a string"), "int": (int, "an integer"), "bool": (bool, "a boolean"),
    "dict": (dict, "an object"), "float": ((int, float), "a number"),
}


def entity(cls: Any, data: dict[str, Any], where: str) -> Any:
    """Build a store entity from a request body, checking each field's JSON type."""
    kwargs = entity_fields(cls, data, where)
    missing = [f.name for f in dataclasses.fields(cls)
               if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
               and f.name not in kwargs]
    if missing:
        raise invalid_param(missing[0], where, "a value (it is required)", None)
    return cls(**kwargs)


def entity_fields(cls: Any, data: dict[str, Any], where: str) -> dict[str, Any]:
    """The fields of dataclass ``cls`` present in ``data``, each checked against its declared
    type (integers bounded to int64, strings free of NUL, which PostgreSQL refuses); keys
    that are not fields of ``cls`` are left out. Raises InvalidParameterValue."""
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            continue
        v = data[f.name]
        hint = str(hints[f.name])
        optional = "None" in hint
        if v is None and optional:
            kwargs[f.name] = None
            continue
        base = next((k for k in ("dict", "bool", "int", "float", "str") if k in hint), "str")
        types, expected = _CHECKS[base]
        if not isinstance(v, types) or (base == "int" and not is_int64(v)):
            raise invalid_param(f.name, where, INT64 if base == "int" else expected, v)
        if base == "float" and isinstance(v, bool):
            raise invalid_param(f.name, where, expected, v)
        if isinstance(v, str) and "\x00" in v:  # PostgreSQL refuses NUL in text
            raise invalid_param(f.name, where, expected + " (without NUL characters)", v)
        kwargs[f.name] = v
    return kwargs
