"""``loopml gc``: permanently delete soft-deleted runs and their artifacts."""

from __future__ import annotations

import re

import typer

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> int:
    """``"30d"``/``"12h"``/``"15m"``/``"45s"`` -> seconds. Raises ``typer.BadParameter``
    (exit 2) for anything else."""
    m = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if not m:
        raise typer.BadParameter("Use a number and a unit, e.g. 30d, 12h, 90m or 45s.")
    return int(m.group(1)) * _UNITS[m.group(2)] * 1000


def gc(
    backend_store_uri: str = typer.Option(None, help="Metadata store URI. Default: SQLite under LOOPML_HOME."),
    artifacts_destination: str = typer.Option(None, help="Artifact root for mlflow-artifacts:/ URIs. Default: LOOPML_HOME/artifacts."),
    older_than: str = typer.Option(None, help="Only runs deleted at least this long ago, e.g. 30d, 12h."),
    run_ids: list[str] = typer.Option(None, "--run-id", help="Only these runs (repeatable). They must be deleted already."),
) -> None:
    """Permanently delete runs in the 'deleted' stage, artifacts first, then their rows."""
    from loopml.config import default_artifact_root, default_backend_uri
    from loopml.store import get_store
    from loopml.tracking._gc import blob_resolver, collect_garbage

    store = get_store(backend_store_uri or default_backend_uri())
    resolve = blob_resolver(artifacts_destination or default_artifact_root())
    purged = collect_garbage(
        store, resolve, parse_age(older_than) if older_than else None, run_ids or None
    )
    typer.echo(f"Purged {len(purged)} run(s).")
    for rid in purged:
        typer.echo(f"  {rid}")
