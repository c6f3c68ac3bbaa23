"""``loopml data ...`` in a subprocess: drift table and JSON, profiles, schema, validate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "loopml", "data", *args], capture_output=True,
                          text=True, env=env, timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("data-cli")
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "y": rng.normal(size=5000),
                        "c": rng.choice(["a", "b"], 5000)})
    cur = ref.assign(x=ref.x + 1.0)
    ref.to_parquet(d / "ref.parquet")
    cur.to_csv(d / "cur.csv", index=False)
    ref.assign(c="zzz").to_csv(d / "bad.csv", index=False)
    (d / "empty.csv").write_text("x,y,c\n")
    return {"ref": d / "ref.parquet", "cur": d / "cur.csv", "bad": d / "bad.csv",
            "empty": d / "empty.csv", "dir": d}


def test_drift_table_and_json(files) -> None:
    out_json = files["dir"] / "report.json"
    r = _run(["drift", "--reference", str(files["ref"]), "--current", str(files["cur"]),
              "--output", str(out_json)])
    assert r.returncode == 0, r.stderr
    assert "1 of 3 column(s) drifted" in r.stdout and "wasserstein" in r.stdout
    report = json.loads(out_json.read_text())
    assert [c["column"] for c in report["columns"] if c["drifted"]] == ["x"]
    same = _run(["drift", "-r", str(files["ref"]), "-c", str(files["ref"])])
    assert same.returncode == 0 and "0 of 3" in same.stdout  # exit 0 either way


def test_drift_from_profile(files) -> None:
    prof = files["dir"] / "ref-profile.json"
    assert _run(["profile", str(files["ref"]), "-o", str(prof)]).returncode == 0
    r = _run(["drift", "-r", str(prof), "-c", str(files["cur"]), "--column", "x"])
    assert r.returncode == 0 and "1 of 1" in r.stdout


def test_bad_inputs(files) -> None:
    empty = _run(["drift", "-r", str(files["empty"]), "-c", str(files["cur"])])
    assert empty.returncode == 2 and "no rows" in empty.stderr  # an error, not "no drift"
    wrong = _run(["drift", "-r", str(files["ref"]), "-c", str(files["cur"]), "--test", "nope"])
    assert wrong.returncode == 2 and "Unknown drift test" in wrong.stderr
    missing = _run(["drift", "-r", str(files["ref"]), "-c", str(files["dir"] / "no.csv")])
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    notprof = _run(["drift", "-r", str(files["dir"] / "report.json"), "-c", str(files["cur"])])
    assert notprof.returncode == 2 and "not a profile" in notprof.stderr


def test_schema_and_validate(files) -> None:
    schema = files["dir"] / "schema.json"
    assert _run(["schema", str(files["ref"]), "-o", str(schema)]).returncode == 0
    ok = _run(["validate", str(files["ref"]), "--schema", str(schema)])
    assert ok.returncode == 0 and "No anomalies" in ok.stdout
    bad = _run(["validate", str(files["bad"]), "--schema", str(schema)])
    assert bad.returncode == 1 and "out_of_domain" in bad.stdout and "zzz" in bad.stdout


def test_commands_accept_globs_and_uris(files) -> None:
    uri = f"duckdb://?query=SELECT * FROM read_parquet('{files['ref']}') WHERE x > 0"
    r = _run(["drift", "-r", str(files["dir"] / "ref.*"), "-c", uri])
    assert r.returncode == 0, r.stderr
    assert "of 3 column(s) drifted" in r.stdout
    nomatch = _run(["profile", str(files["dir"] / "*.nothing"), "-o", str(files["dir"] / "p.json")])
    assert nomatch.returncode == 2 and "no file matches" in nomatch.stderr


def test_html_reports_are_self_contained(files) -> None:
    html = files["dir"] / "drift.html"
    r = _run(["drift", "-r", str(files["ref"]), "-c", str(files["cur"]), "--html", str(html)])
    assert r.returncode == 0, r.stderr
    page = html.read_text()
    assert page.count("<svg") == 3 and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "wasserstein" in page and "Data quality" in page
    rep = files["dir"] / "report.html"
    r2 = _run(["report", str(files["bad"]), "-r", str(files["ref"]), "-o", str(rep)])
    assert r2.returncode == 0, r2.stderr
    assert "zzz" in rep.read_text()  # a category the reference never had


def test_check_suite_gate(files) -> None:
    suite = files["dir"] / "suite.yaml"
    suite.write_text(f"reference: {files['ref']}\nchecks:\n"
                     "  - {metric: row_count, ge: 1000}\n"
                     "  - {metric: missing_rate, column: x, le: 0.01}\n"
                     "  - {metric: column_drifted, column: x, eq: 0}\n")
    ok = _run(["check", str(files["ref"]), "--suite", str(suite)])
    assert ok.returncode == 0 and "3 of 3 check(s) passed" in ok.stdout, ok.stdout + ok.stderr
    bad = _run(["check", str(files["cur"]), "--suite", str(suite)])
    assert bad.returncode == 1 and "FAIL  column_drifted(x)" in bad.stdout
    suite.write_text("checks:\n  - {metric: missing_rate, le: 0.1}\n")
    wrong = _run(["check", str(files["ref"]), "--suite", str(suite)])
    assert wrong.returncode == 2 and "needs a 'column'" in wrong.stderr


@pytest.mark.parametrize(("text", "why"), [
    ("checks: []\n", "at least one check"),
    ("checks:\n  - {metric: row_count, ge: .nan}\n", "finite"),
    ("checks:\n  - {metric: row_count, le: .inf}\n", "finite"),
])
def test_check_suite_that_gates_nothing_is_wrong(files, text: str, why: str) -> None:
    suite = files["dir"] / "empty-suite.yaml"
    suite.write_text(text)
    r = _run(["check", str(files["ref"]), "--suite", str(suite)])
    assert r.returncode == 2 and why in r.stderr, r.stdout + r.stderr


def test_report_to_a_folder_is_bad_input(files, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from loopml.cli.main import app

    monkeypatch.chdir(files["dir"])
    for out in (str(files["dir"]), "."):
        r = CliRunner().invoke(app, ["data", "report", str(files["ref"]), "-o", out])
        assert r.exit_code == 2 and "is a folder" in r.output, r.output
