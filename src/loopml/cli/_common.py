"""What the command modules share: the tracking client a ``--tracking-uri`` option selects,
and the one way a LoopmlError ends a command (its message on stderr, exit 2)."""

from __future__ import annotations

from typing import Any

import typer

from loopml.errors import LoopmlError


def tracking_client(tracking_uri: str | None) -> Any:
    """The fluent API's client for ``tracking_uri`` (None: the settings' tracking_uri, else
    the local store), built afresh so that it follows the settings of this invocation."""
    from loopml.tracking._fluent import client, set_tracking_uri

    set_tracking_uri(tracking_uri)
    return client()


def cli_services(tracking_uri: str | None) -> Any:
    """The composition root's ``ProcessServices`` (``loopml.services``) for a command:
    its stores over ``tracking_uri`` (None: the settings' tracking_uri, else the local
    store). The fluent API is pointed at the same store, so library calls a command makes
    and the public fluent calls it makes agree."""
    from loopml.services import services_for_store

    client = tracking_client(tracking_uri)
    return services_for_store(client.store, uri=client.tracking_uri, client=client)


def fail(e: LoopmlError) -> typer.Exit:
    """Print ``e`` on one line; the exit code follows the table in cli/_errors.py."""
    from loopml.cli._errors import explain

    code, message = explain(e)
    typer.echo(f"Error: {message}", err=True)
    return typer.Exit(code)
