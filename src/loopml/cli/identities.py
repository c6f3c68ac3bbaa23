"""``loopml users ...``, ``loopml service-accounts ...`` and ``loopml tokens ...``: identities,
role bindings and API tokens, written straight into the metadata database (whoever runs
these holds the database, so they act as admin). Against a running server, use its
``/api/loopml/v1`` identity API or MLflow's ``AuthServiceClient`` instead."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from loopml.errors import LoopmlError

_URI_HELP = ("The metadata database holding identities (sqlite:///... or postgresql://...). "
             "Default: LOOPML_TRACKING_URI, else the local store.")
_WS_HELP = "Workspace of the binding ('*' = every workspace)."
_ROLE_HELP = "viewer, editor, deployer, approver or admin."
_JSON_HELP = "Print JSON instead of a table."

users_app = typer.Typer(help="Local users: passwords (argon2id) and roles per workspace.",
                        no_args_is_help=True)
service_accounts_app = typer.Typer(
    help="Service accounts: identities for jobs, servers, monitors and the loop controller "
         "(they authenticate with API tokens only).", no_args_is_help=True)
tokens_app = typer.Typer(
    help="API tokens: shown once, stored as a hash, scoped to a workspace and a role no "
         "higher than their owner's, with expiry, rotation and revocation.",
    no_args_is_help=True)

T = TypeVar("T")


def _svc(tracking_uri: str | None) -> Any:
    from loopml.cli._common import tracking_client
    from loopml.security._identities import IdentityService
    from loopml.store import get_identity_store

    return IdentityService(get_identity_store(tracking_client(tracking_uri).store))


def _run(fn: Callable[[], T]) -> T:
    from loopml.cli._common import fail

    try:
        return fn()
    except LoopmlError as e:
        raise fail(e) from None


def _role(name: str) -> Any:
    from loopml.security import Role

    try:
        return Role.parse(name)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--role") from None


def _show_identities(items: list[Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps([i.to_dict() for i in items], indent=2))
        return
    for i in items:
        roles = ", ".join(f"{w}={r.name.lower()}" for w, r in sorted(i.roles.items()))
        typer.echo(f"{i.name}  [{i.kind.value}]  {roles or '(no roles)'}")


# ---- users --------------------------------------------------------------------------------

@users_app.command("create")
def users_create(
    name: str = typer.Argument(..., help="User name (an e-mail address fits)."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="The password (prompted for, hidden, when not given; at "
                                      "least 8 characters)."),
    workspace: str = typer.Option(None, help="Also grant --role in this workspace."),
    role: str = typer.Option("viewer", help=_ROLE_HELP),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Create a local user who signs in with a password (MLFLOW_TRACKING_USERNAME/PASSWORD)."""
    svc = _svc(tracking_uri)
    r = _role(role)
    _run(lambda: svc.create_user(name, password))
    if workspace:
        _run(lambda: svc.grant(name, workspace, r))
    typer.echo(f"Created user {name}" + (f" ({role} in {workspace})." if workspace else "."))


@users_app.command("list")
def users_list(tracking_uri: str = typer.Option(None, help=_URI_HELP),
               as_json: bool = typer.Option(False, "--json", help=_JSON_HELP)) -> None:
    """List users and their roles."""
    from loopml.security import IdentityKind

    svc = _svc(tracking_uri)
    _show_identities(_run(lambda: svc.store.list_identities(IdentityKind.USER)), as_json)


@users_app.command("delete")
def users_delete(name: str = typer.Argument(..., help="The user."),
                 tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Delete a user with their role bindings and API tokens."""
    from loopml.security import IdentityKind

    svc = _svc(tracking_uri)
    _run(lambda: svc.delete(name, IdentityKind.USER))
    typer.echo(f"Deleted user {name}.")


@users_app.command("set-password")
def users_set_password(
    name: str = typer.Argument(..., help="The user."),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True,
                                 help="The new password (prompted for when not given)."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Set a user's password (servers accept the new one within 30 s)."""
    svc = _svc(tracking_uri)
    _run(lambda: svc.set_password(name, password))
    typer.echo(f"Password of {name} changed.")


@users_app.command("grant")
def users_grant(name: str = typer.Argument(..., help="A user or service account."),
                workspace: str = typer.Option("default", help=_WS_HELP),
                role: str = typer.Option(..., help=_ROLE_HELP),
                tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Give an identity a role in a workspace (replacing the one it had there)."""
    svc = _svc(tracking_uri)
    r = _role(role)
    _run(lambda: svc.grant(name, workspace, r))
    typer.echo(f"{name} is {role} in {workspace}.")


@users_app.command("revoke")
def users_revoke(name: str = typer.Argument(..., help="A user or service account."),
                 workspace: str = typer.Option("default", help=_WS_HELP),
                 tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Remove an identity's role in a workspace (its tokens there stop working within 30 s)."""
    svc = _svc(tracking_uri)
    _run(lambda: svc.revoke(name, workspace))
    typer.echo(f"{name} has no role in {workspace} now.")


# ---- service accounts ---------------------------------------------------------------------

@service_accounts_app.command("create")
def sa_create(name: str = typer.Argument(..., help="Service account name, e.g. trainer."),
              workspace: str = typer.Option(None, help="Also grant --role in this workspace."),
              role: str = typer.Option("editor", help=_ROLE_HELP),
              description: str = typer.Option("", help="What it is for."),
              tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Create a service account (then give it a token: loopml tokens create NAME)."""
    svc = _svc(tracking_uri)
    r = _role(role)
    _run(lambda: svc.create_service_account(name, description))
    if workspace:
        _run(lambda: svc.grant(name, workspace, r))
    typer.echo(f"Created service account {name}"
               + (f" ({role} in {workspace})." if workspace else "."))


@service_accounts_app.command("list")
def sa_list(tracking_uri: str = typer.Option(None, help=_URI_HELP),
            as_json: bool = typer.Option(False, "--json", help=_JSON_HELP)) -> None:
    """List service accounts and their roles."""
    from loopml.security import IdentityKind

    svc = _svc(tracking_uri)
    _show_identities(_run(lambda: svc.store.list_identities(IdentityKind.SERVICE_ACCOUNT)),
                     as_json)


@service_accounts_app.command("delete")
def sa_delete(name: str = typer.Argument(..., help="The service account."),
              tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Delete a service account with its role bindings and API tokens."""
    from loopml.security import IdentityKind

    svc = _svc(tracking_uri)
    _run(lambda: svc.delete(name, IdentityKind.SERVICE_ACCOUNT))
    typer.echo(f"Deleted service account {name}.")


# ---- tokens -------------------------------------------------------------------------------

def _print_token(issued: Any) -> None:
    rec = issued.record
    exp = "never" if rec.expires_time is None else f"at {rec.expires_time} ms"
    typer.echo(f"Token {rec.token_id} for {rec.owner}: {rec.role.name.lower()} in "
               f"{rec.workspace}, expires {exp}. Shown once, store it now:", err=True)
    typer.echo(issued.token)


@tokens_app.command("create")
def tokens_create(owner: str = typer.Argument(..., help="The user or service account."),
                  workspace: str = typer.Option("default", help="Workspace the token is "
                                                "for ('*' = every workspace)."),
                  role: str = typer.Option(None, help=_ROLE_HELP + " Default: the owner's "
                                           "role there; never above it."),
                  expires_in: int = typer.Option(None, min=1, help="Lifetime in seconds "
                                                 "(at most a year). Default: no expiry."),
                  name: str = typer.Option("", help="A label, e.g. ci-training."),
                  tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Issue an API token (printed once on stdout; send it as MLFLOW_TRACKING_TOKEN)."""
    svc = _svc(tracking_uri)
    r = _role(role) if role else None
    _print_token(_run(lambda: svc.issue_token(owner, workspace, r, expires_in, name)))


@tokens_app.command("list")
def tokens_list(owner: str = typer.Option(None, help="Only this identity's tokens."),
                tracking_uri: str = typer.Option(None, help=_URI_HELP),
                as_json: bool = typer.Option(False, "--json", help=_JSON_HELP)) -> None:
    """List tokens (ids, owners, scopes, expiry, revocation; never secrets)."""
    svc = _svc(tracking_uri)
    items = _run(lambda: svc.list_tokens(owner))
    if as_json:
        typer.echo(json.dumps([t.to_dict() for t in items], indent=2))
        return
    for t in items:
        state = "revoked" if t.revoked_time else "active"
        typer.echo(f"{t.token_id}  {t.owner}  {t.role.name.lower()}@{t.workspace}  {state}"
                   + (f"  expires {t.expires_time}" if t.expires_time else "")
                   + (f"  {t.name}" if t.name else ""))


@tokens_app.command("revoke")
def tokens_revoke(token_id: str = typer.Argument(..., help="The token's id (loopml tokens list)."),
                  tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Revoke a token: servers refuse it within 30 s (their verification cache TTL)."""
    svc = _svc(tracking_uri)
    _run(lambda: svc.revoke_token(token_id))
    typer.echo(f"Revoked token {token_id}.")


@tokens_app.command("rotate")
def tokens_rotate(token_id: str = typer.Argument(..., help="The token's id."),
                  expires_in: int = typer.Option(None, min=1, help="Lifetime of the new "
                                                 "token in seconds. Default: the old one's."),
                  tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Replace a token with a new one of the same scope; the old one is revoked."""
    svc = _svc(tracking_uri)
    _print_token(_run(lambda: svc.rotate_token(token_id, expires_in)))


__all__ = ["service_accounts_app", "tokens_app", "users_app"]
