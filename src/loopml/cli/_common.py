"""What the command modules share: the tracking client a ``--tracking-uri`` option selects,
and the one way a LoopmlError ends a command (its message on stderr, exit 2)."""

from __future__ import annotations

from typing import Any

import typer

from loopml.errors import LoopmlError


def tracking_client(tracking_uri: str | None) -> Any:
    """The fluent API's client, switched to ``tracking_uri`` when one is given."""
    from loopml.tracking._fluent import client, set_tracking_uri

    if tracking_uri:
        set_tracking_uri(tracking_uri)
    return client()


def fail(e: LoopmlError) -> typer.Exit:
    typer.echo(f"Error: {e.message}", err=True)
    return typer.Exit(2)
