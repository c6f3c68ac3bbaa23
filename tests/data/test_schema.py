"""Schema inference and validation: every anomaly kind, with a message that says what."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml import data


@pytest.fixture
def train() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    n = 5000
    return pd.DataFrame({
        "age": rng.integers(18, 90, n), "income": rng.normal(50_000, 10_000, n),
        "plan": rng.choice(["basic", "pro", "team"], n),
        "note": np.where(rng.random(n) < 0.1, None, "ok"),
    })


def test_infer(train: pd.DataFrame) -> None:
    s = data.infer_schema(train)
    age, income, plan, note = (s.column(c) for c in ("age", "income", "plan", "note"))
    assert age.type == "integer" and age.min >= 18 and age.max <= 89 and not age.nullable
    assert income.type == "float" and income.quantiles["0.5"] == pytest.approx(50_000, rel=0.02)
    assert plan.type == "string" and plan.domain == ["basic", "pro", "team"]
    assert plan.min_length == 3 and plan.max_length == 5
    assert note.nullable and note.missing_rate == pytest.approx(0.1, abs=0.02)
    assert data.DataSchema.from_dict(json.loads(s.to_json())) == s


def test_clean_data_has_no_anomalies(train: pd.DataFrame) -> None:
    s = data.infer_schema(train)
    assert data.validate(train.sample(1000, random_state=0), s) == []


def test_every_anomaly(train: pd.DataFrame) -> None:
    s = data.infer_schema(train)
    bad = train.head(200).copy()
    bad["age"] = bad["age"] + 0.5  # fractional
    bad.loc[bad.index[:5], "income"] = 10_000_000  # out of range
    bad.loc[bad.index[:3], "plan"] = "enterprise"  # out of domain
    bad["note"] = None  # missing rate jumps
    bad = bad.drop(columns=[]).assign(extra=1)
    found = {(a.column, a.kind, a.severity) for a in data.validate(bad, s)}
    assert ("age", "type_mismatch", "error") in found
    assert ("income", "out_of_range", "warning") in found
    assert ("plan", "out_of_domain", "error") in found
    assert ("note", "missing_rate", "warning") in found or ("note", "type_mismatch", "error") in found
    assert ("extra", "unexpected_column", "warning") in found
    msgs = {a.kind: a.message for a in data.validate(bad, s)}
    assert "enterprise" in msgs["out_of_domain"] and "basic" in msgs["out_of_domain"]

    missing = data.validate(train.drop(columns=["plan"]), s)
    assert [(a.column, a.kind) for a in missing] == [("plan", "missing_column")]
    typed = data.validate(train.assign(income="n/a"), s)
    assert [(a.column, a.kind) for a in typed] == [("income", "type_mismatch")]
    nulls = data.validate(train.assign(age=np.where(np.arange(len(train)) < 3, np.nan,
                                                    train["age"])), s)
    assert ("age", "unexpected_nulls") in {(a.column, a.kind) for a in nulls}


def test_log_dataset_links_schema_and_profile(embedded_home, train: pd.DataFrame) -> None:
    with loopml.start_run() as run:
        out = data.log_dataset(train, name="customers", source="s3://bucket/customers.parquet")
    client = loopml.tracking.client()
    got = client.get_run(run.run_id)
    assert got.data.tags["loopml.dataset.customers"] == out["digest"]
    assert got.inputs.dataset_inputs[0].dataset.digest == out["digest"]
    files = client.list_artifacts(run.run_id, f"datasets/{out['digest']}")
    assert sorted(f.rsplit("/", 1)[-1] for f in files) == ["profile.json", "schema.json"]
    local = client.download_artifacts(run.run_id, f"datasets/{out['digest']}", embedded_home / "dl")
    schema = data.load_schema(local / "schema.json")
    assert schema.column("plan").domain == ["basic", "pro", "team"]
    report = data.detect_drift(data.load_profile(local / "profile.json"), train)
    assert not report.dataset_drift
