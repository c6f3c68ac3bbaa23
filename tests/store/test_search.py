"""Search filters: parser errors, and a differential test of the SQL against the plain-Python
reference evaluator over random runs and random filters (AND/OR/parentheses)."""

from __future__ import annotations

import math
import random

import pytest

from loopml.entities import ViewType
from loopml.errors import InvalidParameterValue
from loopml.store._search import evaluate_run, parse_filter
from loopml.store._search_parse import And, Compare, Or
from loopml.store.sql import SqlStore


@pytest.mark.parametrize("bad", [
    "metrics.a >", "metrics.a = 'x'", "params.p > 1", "tags.t < 'a'", "foo.bar = 1",
    "(metrics.a > 1", "metrics.a > 1)", "metrics.a > 1 garbage", "params.p IN ()",
    "params.p IN ('a' 'b')", "params.p = 'unterminated", "NOT params.p = 'a'",
    "attributes.nope = 'x'", "metrics.a IN ('1')", "AND", "",
])
def test_bad_filters(bad: str) -> None:
    if not bad:
        assert parse_filter(bad) is None
        return
    with pytest.raises(InvalidParameterValue) as e:
        from loopml.store._search import runs_select

        runs_select([0], bad, ViewType.ALL, None, 0, 10)
    assert "filter" in str(e.value).lower() or "attribute" in str(e.value).lower()


def test_parser_precedence() -> None:
    e = parse_filter("metrics.a > 1 OR metrics.b > 2 AND params.c = 'x'")
    assert isinstance(e, Or) and isinstance(e.items[1], And)
    e = parse_filter("(metrics.a > 1 OR metrics.b > 2) AND params.`odd key` = \"x\"")
    assert isinstance(e, And) and isinstance(e.items[0], Or)
    assert isinstance(e.items[1], Compare) and e.items[1].ident.key == "odd key"


WORDS = ["alpha", "Alpha", "beta", "gamma_1", "delta%x", "e"]
VALUES = [0.0, -0.0, 1.0, 2.5, -3.0, math.inf, -math.inf, math.nan, 10.0]


def _random_comparison(rng: random.Random) -> str:
    kind = rng.choice(["metrics", "params", "tags", "attr"])
    if kind == "metrics":
        key = rng.choice(["m1", "m2", "m3"])
        if rng.random() < 0.1:
            return f"metrics.{key} IS {'NOT ' if rng.random() < 0.5 else ''}NULL"
        op = rng.choice(["=", "!=", "<", "<=", ">", ">="])
        return f"metrics.{key} {op} {rng.choice([0, 1, 2.5, -3, 10, -1e9])}"
    if kind in ("params", "tags"):
        key = rng.choice(["p1", "p2"]) if kind == "params" else rng.choice(["t1", "t2"])
        r = rng.random()
        if r < 0.1:
            return f"{kind}.{key} IS {'NOT ' if rng.random() < 0.5 else ''}NULL"
        if r < 0.3:
            vals = ", ".join(f"'{w}'" for w in rng.sample(WORDS, 2))
            return f"{kind}.{key} {'NOT IN' if rng.random() < 0.5 else 'IN'} ({vals})"
        op = rng.choice(["=", "!=", "LIKE", "ILIKE"])
        pat = rng.choice(WORDS + ["%a%", "A%", "_lpha", "%", "gam%1", "%x"])
        return f"{kind}.{key} {op} '{pat}'"
    if rng.random() < 0.5:
        return f"attributes.status {rng.choice(['=', '!='])} '{rng.choice(['RUNNING', 'FINISHED'])}'"
    return f"attributes.start_time {rng.choice(['<', '>=', '='])} {rng.randint(0, 40)}"


def _random_filter(rng: random.Random, depth: int = 0) -> str:
    if depth > 2 or rng.random() < 0.4:
        return _random_comparison(rng)
    op = rng.choice(["AND", "OR"])
    parts = [_random_filter(rng, depth + 1) for _ in range(rng.randint(2, 3))]
    return "(" + f" {op} ".join(parts) + ")"


def _populate(store: SqlStore, rng: random.Random) -> tuple[str, list[str]]:
    from loopml.entities import Metric, Param, RunTag

    eid = store.create_experiment(f"diff-{rng.random()}")
    ids = []
    for i in range(120):
        run = store.create_run(eid, start_time=rng.randint(0, 40))
        rid = run.info.run_id
        metrics = [Metric(k, rng.choice(VALUES), 1, 0) for k in ("m1", "m2", "m3") if rng.random() < 0.8]
        params = [Param(k, rng.choice(WORDS)) for k in ("p1", "p2") if rng.random() < 0.8]
        tags = [RunTag(k, rng.choice(WORDS)) for k in ("t1", "t2") if rng.random() < 0.8]
        store.log_batch(rid, metrics, params, tags)
        if rng.random() < 0.5:
            store.update_run_info(rid, status="FINISHED")
        ids.append(rid)
    return eid, ids


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_differential_sql_vs_reference(backend: str, request, tmp_path) -> None:
    uri = (f"sqlite:///{tmp_path / 'd.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_uri"))
    store = SqlStore(uri, str(tmp_path / "a"))
    rng = random.Random(1234)
    eid, _ = _populate(store, rng)
    runs = store.search_runs([eid], max_results=1000).items
    assert len(runs) == 120
    checked = 0
    for _ in range(300):
        f = _random_filter(rng)
        expected = {r.info.run_id for r in runs if evaluate_run(parse_filter(f), r)}
        got = {r.info.run_id for r in store.search_runs([eid], f, max_results=1000)}
        assert got == expected, f
        checked += bool(expected)
    assert checked > 50, "too few filters matched anything: the test would prove little"
    # order_by + paging: every run exactly once, in a stable order.
    for order in (["metrics.m1 DESC"], ["params.p1 ASC", "attributes.start_time DESC"], None):
        seen, token = [], None
        while True:
            page = store.search_runs([eid], max_results=17, order_by=order, page_token=token)
            seen += [r.info.run_id for r in page]
            token = page.next_page_token
            if not token:
                break
        assert sorted(seen) == sorted(r.info.run_id for r in runs) and len(set(seen)) == 120
    store.close()


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_nan_is_unequal_to_everything(backend: str, request, tmp_path) -> None:
    """IEEE 754 (and MLflow): ``metrics.x != 0`` matches NaN; every other operator does not."""
    from loopml.entities import Metric

    uri = (f"sqlite:///{tmp_path / 'n.db'}" if backend == "sqlite"
           else request.getfixturevalue("postgres_uri"))
    store = SqlStore(uri, str(tmp_path / "a"))
    eid = store.create_experiment("nan")
    nan_run = store.create_run(eid).info.run_id
    zero_run = store.create_run(eid).info.run_id
    store.log_batch(nan_run, [Metric("x", math.nan, 1, 0)], [], [])
    store.log_batch(zero_run, [Metric("x", 0.0, 1, 0)], [], [])
    runs = store.search_runs([eid]).items
    for f, expected in [("metrics.x != 0", {nan_run}), ("metrics.x = 0", {zero_run}),
                        ("metrics.x != 1", {nan_run, zero_run}), ("metrics.x < 1", {zero_run}),
                        ("metrics.x >= -1e300", {zero_run})]:
        got = {r.info.run_id for r in store.search_runs([eid], f)}
        assert got == expected, f
        assert {r.info.run_id for r in runs if evaluate_run(parse_filter(f), r)} == expected, f
    store.close()
