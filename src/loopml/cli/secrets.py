"""``loopml secrets ...``: the secrets store of a workspace (docs/security.md, "Secrets").

Values are read from stdin (or ``--from-file``), never from the command line, where other
users see them in ``ps`` and shells keep them in history. ``get`` prints a value only with
``--reveal``. Against a server (``--tracking-uri http...``) the commands call
``/api/loopml/v1/secrets`` (admin role; reading a value: admin or a granted service
account); against a local store they use the configured backend directly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from loopml.errors import InvalidParameterValue, LoopmlError

secrets_app = typer.Typer(
    help="Store, rotate and grant secrets that configuration refers to as ${secret:NAME}.",
    no_args_is_help=True,
)
_URI = typer.Option(None, "--tracking-uri", help="Server or store. Default: LOOPML_TRACKING_URI, "
                    "else the local store.")
_WS = typer.Option("default", "--workspace", "-w", help="The workspace the secret belongs to.")
_API = "/api/loopml/v1/secrets"


class _Target:
    """The same operations on a server (REST) or on the local backend."""

    def __init__(self, tracking_uri: str | None, workspace: str) -> None:
        from loopml.cli._common import tracking_client
        from loopml.security.workspaces import check_workspace_name
        from loopml.store.rest import RestStore

        self.ws = check_workspace_name(workspace)
        store = tracking_client(tracking_uri).store
        self.rest = store if isinstance(store, RestStore) else None
        self.engine: Any = getattr(store, "engine", None)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        assert self.rest is not None
        return self.rest._call(method, _API + path, body, self.ws)

    def backend(self) -> Any:
        from loopml.security.secrets import get_secret_backend

        return get_secret_backend(engine=self.engine)


def _read_value(from_file: Path | None) -> str:
    try:
        if from_file is not None:
            value = from_file.read_text()
        elif sys.stdin.isatty():
            value = typer.prompt("Value", hide_input=True, confirmation_prompt=True)
        else:
            value = sys.stdin.read()
    except UnicodeDecodeError:
        raise InvalidParameterValue(
            f"The secret value in {from_file or 'stdin'} is not UTF-8 text; store binary data "
            "encoded, e.g. `base64 -w0 FILE | loopml secrets set NAME`.") from None
    value = value.removesuffix("\n")
    if not value:
        raise InvalidParameterValue("The secret value is empty: pipe it on stdin or give "
                                    "--from-file FILE.")
    return value


def _run(fn: Any) -> Any:
    from loopml.cli._common import fail

    try:
        return fn()
    except LoopmlError as e:
        raise fail(e) from None


_FROM = typer.Option(None, "--from-file", dir_okay=False, exists=True,
                     help="Read the value from this file instead of stdin.")


@secrets_app.command("set")
def set_(name: str, from_file: Path = _FROM, workspace: str = _WS,
         tracking_uri: str = _URI) -> None:
    """Create NAME or add a new version of it; the value comes from stdin or --from-file."""
    def go() -> int:
        tg, value = _Target(tracking_uri, workspace), _read_value(from_file)
        if tg.rest is not None:
            return int(tg.call("POST", "", {"name": name, "value": value})["version"])
        return int(tg.backend().put(name, value, tg.ws))
    typer.echo(f"{name}: version {_run(go)}")


@secrets_app.command()
def rotate(name: str, from_file: Path = _FROM, workspace: str = _WS,
           tracking_uri: str = _URI) -> None:
    """Add a new version of an existing secret (older versions stay readable)."""
    def go() -> int:
        tg, value = _Target(tracking_uri, workspace), _read_value(from_file)
        if tg.rest is not None:
            return int(tg.call("POST", f"/{name}/rotate", {"value": value})["version"])
        return int(tg.backend().rotate(name, value, tg.ws))
    typer.echo(f"{name}: version {_run(go)}")


@secrets_app.command("get")
def get(name: str, reveal: bool = typer.Option(False, "--reveal", help="Print the value."),
        version: int = typer.Option(None, "--version", help="A version (default: latest)."),
        workspace: str = _WS, tracking_uri: str = _URI) -> None:
    """Print a secret's value (needs --reveal: a value on a terminal is a value on screen)."""
    if not reveal:
        raise typer.BadParameter("printing a secret's value needs --reveal.", param_hint="--reveal")

    def go() -> str:
        tg = _Target(tracking_uri, workspace)
        if tg.rest is not None:
            q = {"version": version} if version is not None else None
            return str(tg.call("GET", f"/{name}/value", q)["value"])
        return str(tg.backend().get(name, tg.ws, version).value)
    typer.echo(_run(go))


@secrets_app.command("list")
def list_(workspace: str = _WS, tracking_uri: str = _URI) -> None:
    """The workspace's secret names and latest versions (never values)."""
    def go() -> list[tuple[str, int]]:
        tg = _Target(tracking_uri, workspace)
        if tg.rest is not None:
            return [(s["name"], s["version"]) for s in tg.call("GET", "")["secrets"]]
        return [(i.name, i.version) for i in tg.backend().list_names(tg.ws)]
    for name, version in _run(go):
        typer.echo(f"{name}\tversion {version}")


@secrets_app.command()
def delete(name: str, workspace: str = _WS, tracking_uri: str = _URI) -> None:
    """Delete every version of NAME (and its grants)."""
    def go() -> None:
        tg = _Target(tracking_uri, workspace)
        if tg.rest is not None:
            tg.call("DELETE", f"/{name}")
        else:
            tg.backend().delete(name, tg.ws)
    _run(go)
    typer.echo(f"deleted {name}")


@secrets_app.command()
def grant(name: str, subject: str, workspace: str = _WS, tracking_uri: str = _URI) -> None:
    """Let service account SUBJECT read NAME's value."""
    def go() -> None:
        tg = _Target(tracking_uri, workspace)
        if tg.rest is not None:
            tg.call("POST", f"/{name}/grants", {"subject": subject})
            return
        from loopml.security._secrets_access import grant as do_grant

        do_grant(tg.engine, name, subject, tg.ws)
    _run(go)
    typer.echo(f"{subject} may read {name}")


@secrets_app.command()
def revoke(name: str, subject: str, workspace: str = _WS, tracking_uri: str = _URI) -> None:
    """Take back SUBJECT's right to read NAME's value."""
    def go() -> None:
        tg = _Target(tracking_uri, workspace)
        if tg.rest is not None:
            tg.call("DELETE", f"/{name}/grants/{subject}")
            return
        from loopml.security._secrets_access import revoke as do_revoke

        do_revoke(tg.engine, name, subject, tg.ws)
    _run(go)
    typer.echo(f"{subject} may no longer read {name}")


@secrets_app.command()
def keygen() -> None:
    """Print a new random AES-256 key for the built-in backend (save it 0600; set
    LOOPML_SECRETS_KEY_FILE to the file)."""
    from loopml.security._secrets_keys import generate_key

    typer.echo(generate_key())

__all__ = ["secrets_app"]
