"""``loopml datasets ...``: the dataset registry: register, list, versions, get, download,
diff. Errors go through the root command (one line, exit 2 for bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

datasets_app = typer.Typer(
    help="Named, versioned datasets: register data from any path or URI, list and compare "
         "versions, download them.",
    no_args_is_help=True,
)
_URI_HELP = "Tracking URI of the registry. Default: LOOPML_TRACKING_URI, else the local store."


def _store(tracking_uri: str | None):  # type: ignore[no-untyped-def]
    from loopml.cli._common import tracking_client
    from loopml.store import get_dataset_store

    return get_dataset_store(tracking_client(tracking_uri).store)


def _tags(raw: list[str] | None) -> dict[str, str]:
    out = {}
    for t in raw or []:
        k, sep, v = t.partition("=")
        if not sep or not k:
            raise typer.BadParameter(f"{t!r} is not KEY=VALUE.", param_hint="--tag")
        out[k] = v
    return out


@datasets_app.command("register")
def register(
    name: str = typer.Argument(..., help="Dataset name."),
    data: str = typer.Argument(..., help="A path, glob or URI (s3://, postgresql://...?query=, duckdb://?query=)."),
    materialize: bool = typer.Option(False, "--materialize", help="Also store a Parquet copy in the artifact store."),
    description: str = typer.Option("", "--description"),
    tag: list[str] = typer.Option(None, "--tag", help="KEY=VALUE, repeatable."),
    alias: list[str] = typer.Option(None, "--alias", help="Alias for this version, repeatable."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help=_URI_HELP),
) -> None:
    """Register DATA as the next version of NAME (the same content again: the same version)."""
    from loopml.cli._common import tracking_client
    from loopml.data.registry import register_dataset

    tracking_client(tracking_uri)
    v = register_dataset(data, name, materialize=materialize, description=description,
                         tags=_tags(tag), aliases=tuple(alias or ()))
    typer.echo(f"{v.name} version {v.version}: {v.num_rows} rows, digest {v.digest}"
               + (f", stored at {v.artifact_uri}" if v.artifact_uri else ""))


@datasets_app.command("list")
def list_cmd(
    like: str = typer.Option(None, "--like", help="SQL LIKE pattern on the name."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help=_URI_HELP),
) -> None:
    """Registered datasets with their latest version."""
    rows = _store(tracking_uri).list_datasets(like)
    if not rows:
        typer.echo("No datasets.")
    for d in rows:
        typer.echo(f"{d.name:30} latest v{d.latest_version:<4} {d.num_versions} version(s)")


@datasets_app.command("versions")
def versions(name: str = typer.Argument(...),
             tracking_uri: str = typer.Option(None, "--tracking-uri", help=_URI_HELP)) -> None:
    """Versions of NAME, newest first."""
    for v in _store(tracking_uri).list_versions(name):
        extra = f" aliases={','.join(v.aliases)}" if v.aliases else ""
        typer.echo(f"v{v.version:<4} {v.digest}  rows={v.num_rows}  {v.source or '-'}{extra}")


@datasets_app.command("get")
def get(name: str = typer.Argument(...),
        version: str = typer.Argument("latest", help="Number, alias, 'latest' or digest."),
        tracking_uri: str = typer.Option(None, "--tracking-uri", help=_URI_HELP)) -> None:
    """One version as JSON (schema and profile included), with its lineage."""
    store = _store(tracking_uri)
    v = store.get_version(name, version)
    out = v.to_dict()
    out["lineage"] = [x.to_dict() for x in store.lineage(name, v.version)]
    typer.echo(json.dumps(out, indent=2, default=str))


@datasets_app.command("download")
def download(name: str = typer.Argument(...),
             version: str = typer.Argument("latest"),
             output: Path = typer.Option(..., "--output", "-o", help="Parquet file to write."),
             tracking_uri: str = typer.Option(None, "--tracking-uri", help=_URI_HELP)) -> None:
    """Write a version as Parquet: its materialised copy, or its source read again (checked
    against the recorded digest)."""
    from loopml.cli._common import tracking_client
    from loopml.data.registry import download_dataset

    tracking_client(tracking_uri)
    path = download_dataset(name, version, output)
    typer.echo(f"Written {path}")


@datasets_app.command("diff")
def diff(name: str = typer.Argument(...),
         a: str = typer.Argument(..., help="Older version (number, alias, digest)."),
         b: str = typer.Argument("latest", help="Newer version."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON."),
         tracking_uri: str = typer.Option(None, "--tracking-uri", help=_URI_HELP)) -> None:
    """Schema changes and distribution drift from version A to version B (from the stored
    profiles: no data is read)."""
    from loopml.cli._common import tracking_client
    from loopml.data.registry import diff_versions

    tracking_client(tracking_uri)
    d = diff_versions(name, a, b)
    if as_json:
        typer.echo(json.dumps(d.to_dict(), indent=2, default=str))
        return
    typer.echo(f"{name}: v{d.a} -> v{d.b}, rows {d.rows[0]} -> {d.rows[1]}")
    for c in d.added:
        typer.echo(f"  + {c}")
    for c in d.removed:
        typer.echo(f"  - {c}")
    for c, (x, y) in d.type_changed.items():
        typer.echo(f"  ~ {c}: {x} -> {y}")
    if d.drift is not None:
        r = d.drift
        typer.echo(f"Drift: {len(r.drifted_columns)} of {len(r.tested)} column(s) drifted"
                   f"{': ' + ', '.join(r.drifted_columns) if r.drifted_columns else ''}")
        for c in r.columns:
            if c.status == "ok":
                typer.echo(f"  {c.column:24} {c.test:14} {c.statistic:.4g}  "
                           f"{'DRIFT' if c.drifted else 'ok'}")


__all__ = [
    "datasets_app",
]
