"""Route fuzzing shared by the property tests of both servers (issue 15).

Neither server declares a schema per route, so one is derived: every Starlette route of the
app (path, methods, path parameters), and as field names the names the route modules read
(``b.text("run_id")``, ``.get("inputs")``, dataclass fields built with ``entity``...).
Hypothesis then sends, per route, JSON bodies (or query strings for GET/DELETE) made of
those names with random JSON values: type confusion (a list where a string is read, a
string where an int is), out-of-range integers, NaN, deep nesting, unknown keys, plus
non-object and non-JSON bodies. Every answer must be below 500, and a 4xx must carry a JSON
error body (``message`` or ``error``): what clients and the mlflow client's retry logic see.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

EDGE_INTS = [0, 1, -1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**30]
EDGE_FLOATS = [0.0, -0.0, 1.5, 1e308, -1e308, float("nan"), float("inf"), float("-inf")]
EDGE_TEXT = ["", " ", "..", "../x", "a:b", "..x:p", "\x00", "²", "報告", "NaN", "Infinity",
             "-1", "9" * 25, "true", "%", "a/b", "null"]

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_READERS = {"text", "req_text", "integer", "int_or", "number", "flag", "array", "str_list",
            "objects", "key_values", "get", "pop", "getlist", "_get", "run_id", "view_type"}


class _Reads(ast.NodeVisitor):
    """String field names one function reads, and the names of the functions it calls."""

    def __init__(self) -> None:
        self.fields: set[str] = set()
        self.calls: set[str] = set()
        self.entities: set[str] = set()

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        if isinstance(fn, ast.Name):
            self.calls.add(fn.id)
            if fn.id in ("entity", "entity_fields") and node.args and \
                    isinstance(node.args[0], ast.Name):
                self.entities.add(node.args[0].id)
        if name in _READERS:
            for a in node.args[:1]:
                if isinstance(a, ast.Constant) and isinstance(a.value, str):
                    self.fields.add(a.value)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:  # noqa: N802
        if isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
            self.fields.add(node.slice.value)
        self.generic_visit(node)


def _const(node: ast.AST, mod: ModuleType | None = None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp):  # p + "/artifacts/{path:path}"
        return _const(node.right)
    if isinstance(node, ast.JoinedStr):  # f"{_RM}/create", _RM a module constant
        parts = []
        for v in node.values:
            if isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Name):
                parts.append(str(getattr(mod, v.value.id, "")))
            else:
                parts.append(_const(v) or "")
        return "".join(parts)
    return None


def route_fields(modules: Iterable[ModuleType]) -> dict[tuple[str, str], list[str]]:
    """(path suffix, method) -> the body/query fields its handler reads, found in the route
    modules' source: ``api(s, PATH, METHOD, PERM, fn)`` and ``route(PATH, fn, [METHODS])``
    name the handler; the handler's reads (``b.text("run_id")``, ``d["key"]``,
    ``entity(PipelineRun, ...)``) and those of the helpers it calls are its schema."""
    funcs: dict[str, dict[str, ast.FunctionDef]] = {}
    trees = {}
    for m in modules:
        tree = ast.parse(Path(m.__file__ or "").read_text())
        trees[m] = tree
        funcs[m.__name__] = {n.name: n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    shared = {k: v for f in funcs.values() for k, v in f.items()}

    def reads(mod: ModuleType, fn: str, seen: set[str]) -> set[str]:
        node = funcs[mod.__name__].get(fn) or shared.get(fn)
        if node is None or fn in seen:
            return set()
        seen.add(fn)
        v = _Reads()
        v.visit(node)
        out = set(v.fields)
        for e in v.entities:
            cls = getattr(mod, e, None)
            if cls is not None and dataclasses.is_dataclass(cls):
                out |= {f.name for f in dataclasses.fields(cls)}
        for c in v.calls:
            out |= reads(mod, c, seen)
        return out

    table: dict[tuple[str, str], list[str]] = {}
    for mod, tree in trees.items():
        for tup in (n for n in ast.walk(tree) if isinstance(n, ast.Tuple)):
            # a registration table: (path, method, permission, handler)
            e = tup.elts
            if len(e) == 4 and isinstance(e[3], ast.Name) and _const(e[1]) in METHODS:
                path = _const(e[0], mod)
                if path:
                    table[(path, str(_const(e[1])))] = sorted(reads(mod, e[3].id, set()))
        for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
            f = call.func
            if not isinstance(f, ast.Name) or len(call.args) < 3:
                continue
            if f.id == "api" and len(call.args) >= 5 and isinstance(call.args[4], ast.Name):
                path, methods, fn = _const(call.args[1]), [_const(call.args[2])], call.args[4].id
            elif f.id == "route" and isinstance(call.args[1], ast.Name) and \
                    isinstance(call.args[2], ast.List):
                path, fn = _const(call.args[0]), call.args[1].id
                methods = [_const(x) for x in call.args[2].elts]
            else:
                continue
            for method in methods:
                if path and method:
                    table[(path, method)] = sorted(reads(mod, fn, set()))
    return table


def fields_for(table: dict[tuple[str, str], list[str]], path: str, method: str) -> list[str]:
    """The table entry whose path is the longest suffix of ``path``."""
    best = max((k for k in table if k[1] == method and path.endswith(k[0])),
               key=lambda k: len(k[0]), default=None)
    return table[best] if best else []


def json_values(plausible: list[Any]) -> st.SearchStrategy[Any]:
    """Mostly picks from fixed edge values (cheap to draw: drawing is most of the cost of a
    request in process), sometimes any integer or text, nested up to a few levels."""
    edge = [None, True, False, *EDGE_INTS, *EDGE_FLOATS, *EDGE_TEXT, *plausible]
    scalars = st.one_of(st.sampled_from(edge), st.sampled_from(edge), st.integers(),
                        st.text(max_size=6))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(st.lists(inner, max_size=3),
                                st.dictionaries(st.sampled_from(["a", "name", "value", ""]),
                                                inner, max_size=2)),
        max_leaves=4,
    )


def bodies(fields: list[str], plausible: dict[str, list[Any]]
           ) -> st.SearchStrategy[dict[str, Any]]:
    """Objects holding the fields a route reads, each left out, set to a plausible value
    (``plausible[field]``, else ``plausible[""]``) or to a random JSON value, so that one
    wrong field among right ones is common; plus now and then an unknown key. Nested
    records (log-batch ``metrics``, V2 ``inputs``) are built the same way."""
    generic = plausible.get("", [""])
    values = json_values(generic)
    fields = fields or sorted(k for k in plausible if k)

    @st.composite
    def build(draw: Callable[..., Any], depth: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields:
            kind = draw(st.integers(0, 9))
            if kind <= 1:
                continue
            if kind <= 6:
                out[f] = draw(st.sampled_from(plausible.get(f, generic)))
            elif kind == 9 and depth == 0:
                out[f] = draw(st.lists(build(depth + 1), max_size=2))
            else:
                out[f] = draw(values)
        for k in draw(st.lists(st.text(max_size=4), max_size=1)):
            out[k] = draw(values)
        return out

    return build()


@dataclass
class Request_:
    method: str
    path: str
    query: str = ""
    content: bytes | None = None
    headers: dict[str, Any] = field(default_factory=dict)


def requests_for(route: Route, method: str, fields: list[str],
                 plausible: dict[str, list[Any]], path_values: list[str],
                 headers: st.SearchStrategy[dict[str, Any]] | None = None
                 ) -> st.SearchStrategy[Request_]:
    """Requests for one route and method: path parameters filled in (a plausible value or
    any text, percent-encoded), then a query string (GET, DELETE) or a body."""
    params = list(route.param_convertors)
    segment = st.one_of(st.sampled_from(path_values or ["x"]),
                        st.text(min_size=1, max_size=10))

    @st.composite
    def build(draw: Callable[..., Any]) -> Request_:
        path = route.path
        for p in params:
            v = draw(segment)
            safe = "/" if route.param_convertors[p].regex == ".*" else ""
            path = re.sub(r"\{" + p + r"(:\w+)?\}", quote(v, safe=safe) or "x", path)
        data = draw(bodies(fields, plausible))
        if method in ("GET", "DELETE"):
            pairs = []
            for k, v in data.items():
                for item in (v if isinstance(v, list) else [v]):
                    pairs.append((k, item if isinstance(item, str) else json.dumps(item)))
            return Request_(method, path, query=urlencode(pairs))
        kind = draw(st.integers(0, 9))
        if kind == 0:  # not an object, or not JSON at all
            content = draw(st.one_of(
                st.binary(max_size=20),
                json_values(plausible.get("", [])).map(lambda v: json.dumps(v).encode())))
        else:
            content = json.dumps(data).encode()  # NaN/Infinity tokens included, as Python writes
        extra = draw(headers) if headers is not None else {}
        return Request_(method, path, content=content,
                        headers={"content-type": "application/json", **extra})

    return build()


@dataclass
class Report:
    requests: int = 0
    failures: list[str] = field(default_factory=list)


def check(client: TestClient, req: Request_, json_errors: bool, report: Report) -> None:
    url = req.path + ("?" + req.query if req.query else "")
    r = client.request(req.method, url, content=req.content, headers=req.headers)
    report.requests += 1
    where = f"{req.method} {url} body={req.content!r:.300}"
    assert r.status_code < 500, f"{where} -> {r.status_code} {r.text[:300]}"
    if json_errors and 400 <= r.status_code < 500:
        assert r.headers.get("content-type", "").startswith("application/json"), \
            f"{where} -> {r.status_code} {r.headers.get('content-type')} {r.text[:200]}"
        body = r.json()
        assert isinstance(body, dict) and ("message" in body or "error" in body), where


def fuzz_routes(client: TestClient, routes: list[tuple[Route, str]],
                fields: Callable[[str, str], list[str]], plausible: dict[str, list[Any]],
                path_values: list[str], max_examples: int,
                json_errors: Callable[[str], bool], derandomize: bool,
                headers: st.SearchStrategy[dict[str, Any]] | None = None) -> Report:
    """Run Hypothesis on each (route, method); collect failures instead of stopping at the
    first, so one run lists every route that 5xxs."""
    report = Report()
    # No shrinking: a failing request is reported as generated (shrinking a failure through
    # a server costs minutes, and the message already names the route and the body).
    cfg = settings(max_examples=max_examples, deadline=None, database=None,
                   derandomize=derandomize, print_blob=True,
                   phases=[Phase.explicit, Phase.reuse, Phase.generate],
                   suppress_health_check=list(HealthCheck))

    def make(route: Route, method: str) -> Callable[[], None]:
        wants_json = json_errors(route.path)

        @cfg
        @given(req=requests_for(route, method, fields(route.path, method), plausible,
                                path_values, headers))
        def one(req: Request_) -> None:
            check(client, req, wants_json, report)

        return one  # type: ignore[no-any-return]

    for route, method in routes:
        try:
            make(route, method)()
        except AssertionError as e:
            report.failures.append(f"{method} {route.path}: {str(e).splitlines()[0]}")
    return report


def routes_of(app: Any, skip: Callable[[str], bool] = lambda p: False
              ) -> list[tuple[Route, str]]:
    """Each (route, method) once; the /ajax-api twins of /api routes are left out."""
    out, seen = [], set()
    for r in app.routes:
        if not isinstance(r, Route) or skip(r.path):
            continue
        for m in sorted((r.methods or set()) - {"HEAD"}):
            key = (r.path.replace("/ajax-api/", "/api/"), m)
            if key not in seen:
                seen.add(key)
                out.append((r, m))
    return out
