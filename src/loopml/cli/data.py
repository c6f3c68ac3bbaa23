"""``loopml data ...``: drift reports, profiles, schemas and validation from a terminal.

DATA arguments are paths, globs or URIs that a connector reads (``loopml.data.connectors``:
Parquet/CSV/Arrow/JSON-lines files, ``s3://``, ``postgresql://...?query=``,
``mysql+pymysql://...?table=``, ``duckdb://?query=``); a reference may also be a profile JSON
written by ``loopml data profile`` (drift then needs no raw reference data).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from loopml.cli._common import fail
from loopml.errors import InvalidParameterValue, LoopmlError

data_app = typer.Typer(
    help="Data drift, profiles, schema inference and validation on files, globs and URIs "
         "(s3://, postgresql://...?query=, duckdb://?query=).",
    no_args_is_help=True,
)




def _is_profile(uri: str) -> bool:
    return uri.lower().endswith(".json") and "://" not in uri


def _load(uri: str) -> Any:
    """A profile JSON (by its suffix; checked by its content), else the data as a table."""
    from loopml.data import load_profile

    if _is_profile(uri):
        if not Path(uri).is_file():
            raise InvalidParameterValue(f"{uri} does not exist.")
        try:
            return load_profile(uri)
        except (KeyError, ValueError, TypeError, AttributeError):
            raise InvalidParameterValue(
                f"{uri} is not a profile written by `loopml data profile`.") from None
    return read_table(uri, "")


def read_table(uri: str, flag: str) -> Any:
    """Every row ``uri`` names as a pyarrow Table, read once through its connector. No rows
    (or no columns) is bad input: "no drift" on an empty file would be a lie."""
    from loopml.data.connectors import open_source

    table = open_source(uri).read_table()
    if table.num_columns == 0 or table.num_rows == 0:
        from loopml._redact import redact_uri

        raise InvalidParameterValue(
            f"{flag + ' ' if flag else ''}{redact_uri(uri)}: the data has no rows; "
            "nothing to compare.")
    return table


def _plain_parquet(uri: str) -> bool:
    """A local Parquet file: profiled one column at a time (less memory than the table)."""
    return "://" not in uri and uri.lower().endswith((".parquet", ".pq")) and Path(
        uri).is_file()


def _fmt(v: float | None) -> str:
    return "" if v is None else f"{v:.4g}"


@data_app.command("drift")
def drift(
    reference: str = typer.Option(..., "--reference", "-r",
                                  help="Reference data (path, glob or URI) or a profile .json."),
    current: str = typer.Option(..., "--current", "-c",
                                help="Current data (path, glob or URI)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the report as JSON here."),
    column: list[str] = typer.Option(None, "--column", help="Only these columns (repeatable)."),
    test: str = typer.Option(None, "--test", help="One test for every column: ks, wasserstein, psi, jensenshannon or chisquare. Default: by column type and size."),
    drift_share: float = typer.Option(0.5, min=0.0, max=1.0, help="Share of drifted columns at which the dataset counts as drifted."),
    html: Path = typer.Option(None, "--html", help="Also write a self-contained HTML report (plots, verdicts, data quality) here."),
) -> None:
    """Compare CURRENT with REFERENCE column by column and print a table. Exits 0 whether or
    not drift is found (2 on bad input)."""
    from rich.console import Console
    from rich.table import Table

    from loopml.data import detect_drift

    try:
        cur = read_table(current, "--current")
        ref = _load(reference) if _is_profile(reference) else read_table(reference,
                                                                          "--reference")
        if html is not None:  # the page plots both profiles: compute them once
            from loopml.data import profile as make_profile

            ref = ref if not hasattr(ref, "num_rows") else make_profile(ref)
            cur = make_profile(cur)
        report = detect_drift(ref, cur, columns=column or None, tests=test,
                              drift_share=drift_share)
    except LoopmlError as e:
        raise fail(e) from None
    table = Table(title=f"Drift: {len(report.drifted_columns)} of {len(report.tested)} "
                        f"column(s) drifted ({report.share_drifted:.0%}); dataset drift: "
                        f"{'YES' if report.dataset_drift else 'no'}")
    for col in ("column", "kind", "test", "statistic", "p-value", "threshold", "drifted"):
        table.add_column(col)
    for c in report.columns:
        flag = "[red]yes[/]" if c.drifted else ("skipped: " + c.reason if c.status != "ok" else "no")
        table.add_row(c.column, c.kind, c.test or "", _fmt(c.statistic), _fmt(c.p_value),
                      _fmt(c.threshold), flag)
    Console().print(table)
    if output:
        output.write_text(report.to_json())
        typer.echo(f"Report written to {output}")
    if html:
        from loopml.data.report import drift_report_html

        _write_html(html, drift_report_html(ref, cur, report=report))
        typer.echo(f"HTML report written to {html}")


def _write_html(path: Path, text: str) -> None:
    """Temporary name, then rename: a CI job never publishes half a page."""
    import os

    if not path.name or path.is_dir():
        raise InvalidParameterValue(f"{path} is a folder: give the HTML file to write, such "
                                    "as report.html.")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@data_app.command("report")
def report_cmd(
    data: str = typer.Argument(..., help="Current data: a path, glob or URI."),
    output: Path = typer.Option(..., "--output", "-o", help="HTML file to write."),
    reference: str = typer.Option(None, "--reference", "-r", help="Reference data or profile .json: adds drift and new-category checks."),
    title: str = typer.Option("Data report", "--title"),
) -> None:
    """Write a self-contained HTML page: distributions, missing values, and with a
    reference, drift per feature, new categories and range violations."""
    from loopml.data.report import data_report_html

    cur = read_table(data, "")
    ref = None if reference is None else _load(reference)
    _write_html(output, data_report_html(cur, ref, title=title))
    typer.echo(f"HTML report written to {output}")


@data_app.command("check")
def check_cmd(
    data: str = typer.Argument(..., help="Data to check: a path, glob or URI."),
    suite: Path = typer.Option(..., "--suite", "-s", help="Suite YAML (checks with bounds; see docs/data.md)."),
    reference: str = typer.Option(None, "--reference", "-r", help="Reference data or profile .json (overrides the suite's)."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the results as JSON here."),
) -> None:
    """Run a test suite on DATA. Exit 0 when every check passes, 1 when one fails, 2 on bad
    input (a CI gate)."""
    from loopml.data.checks import load_suite, run_suite

    s = load_suite(str(suite))
    ref_src = reference if reference is not None else s.reference
    results = run_suite(s, read_table(data, ""),
                        None if ref_src is None else _load(ref_src))
    for r in results:
        typer.echo(f"{'PASS' if r.passed else 'FAIL'}  {r.check:32} {r.message}")
    failed = [r for r in results if not r.passed]
    typer.echo(f"{len(results) - len(failed)} of {len(results)} check(s) passed.")
    if output:
        output.write_text(json.dumps([r.to_dict() for r in results], indent=2))
    if failed:
        raise typer.Exit(1)


@data_app.command("profile")
def profile_cmd(
    data: str = typer.Argument(..., help="Data: a path, glob or URI."),
    output: Path = typer.Option(..., "--output", "-o", help="Profile JSON to write."),
) -> None:
    """Profile DATA (counts, moments, histograms, top categories) into a JSON file that
    `loopml data drift --reference` accepts in place of the data."""
    from loopml.data import profile

    try:
        p = profile(data if _plain_parquet(data) else read_table(data, ""))
    except LoopmlError as e:
        raise fail(e) from None
    output.write_text(json.dumps(p.to_dict()))
    typer.echo(f"Profiled {p.rows} rows x {len(p.columns)} columns into {output}")


@data_app.command("schema")
def schema_cmd(
    data: str = typer.Argument(..., help="Training data: a path, glob or URI."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the schema JSON here (default: print it)."),
) -> None:
    """Infer a schema (types, nullability, ranges, quantiles, categorical domains)."""
    from loopml.data import infer_schema

    try:
        s = infer_schema(read_table(data, ""))
    except LoopmlError as e:
        raise fail(e) from None
    if output:
        output.write_text(s.to_json())
        typer.echo(f"Schema of {len(s.columns)} columns written to {output}")
    else:
        typer.echo(s.to_json())


@data_app.command("validate")
def validate_cmd(
    data: str = typer.Argument(..., help="Data to check: a path, glob or URI."),
    schema: Path = typer.Option(..., "--schema", "-s", exists=True, dir_okay=False, help="Schema JSON from `loopml data schema`."),
) -> None:
    """Check DATA against SCHEMA and list anomalies. Exit code 1 when an error-severity
    anomaly is found, 0 otherwise (warnings only or none)."""
    from loopml.data import load_schema, validate

    try:
        anomalies = validate(read_table(data, ""), load_schema(schema))
    except LoopmlError as e:
        raise fail(e) from None
    except (KeyError, ValueError, TypeError, AttributeError):
        typer.echo(f"Error: {schema} is not a schema written by `loopml data schema`.", err=True)
        raise typer.Exit(2) from None
    for a in anomalies:
        typer.echo(f"{a.severity.upper():7} {a.kind:18} {a.message}")
    if not anomalies:
        typer.echo("No anomalies.")
    if any(a.severity == "error" for a in anomalies):
        raise typer.Exit(1)
