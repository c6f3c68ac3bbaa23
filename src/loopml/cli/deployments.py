"""``loopml deployments ...``: traffic specs (weights, shadow, sticky routing) that servers
started with ``loopml serve --serve-deployment NAME`` apply live."""

from __future__ import annotations

import json

import typer

from loopml.errors import LoopmlError

deployments_app = typer.Typer(
    help="Create and change deployments: an endpoint name mapped to model versions with "
         "traffic weights. Running servers pick up changes within a second.",
    no_args_is_help=True,
)
_URI_HELP = "Tracking URI where deployments are stored. Default: LOOPML_TRACKING_URI, else the local store."
_ROUTE_HELP = "MODEL_URI=WEIGHT, repeatable, e.g. --route models:/fraud/3=90 --route models:/fraud/4=10."


def _store(tracking_uri: str | None):  # type: ignore[no-untyped-def]
    from loopml.cli._common import tracking_client
    from loopml.store import get_deployment_store

    return get_deployment_store(tracking_client(tracking_uri).store)


def _parse_routes(raw: list[str] | None):  # type: ignore[no-untyped-def]
    from loopml.entities import TrafficRoute

    if not raw:
        return None
    out = []
    for r in raw:
        uri, sep, weight = r.rpartition("=")
        if not sep or not uri:
            raise typer.BadParameter(f"{r!r} is not MODEL_URI=WEIGHT.", param_hint="--route")
        try:
            out.append(TrafficRoute(uri, float(weight)))
        except ValueError:
            raise typer.BadParameter(f"weight {weight!r} is not a number.",
                                     param_hint="--route") from None
    return out


def _show(d) -> None:  # type: ignore[no-untyped-def]
    total = sum(r.weight for r in d.routes) or 1.0
    typer.echo(f"{d.name} (revision {d.revision})")
    for r in d.routes:
        typer.echo(f"  {r.weight / total:6.1%}  {r.model_uri}")
    for s in d.shadow:
        typer.echo(f"  shadow  {s}")
    if d.sticky_header:
        typer.echo(f"  sticky by header {d.sticky_header}")


_REPLICAS_HELP = ("Model-server replicas (1-1000), counted against the workspace's replicas "
                  "quota.")
_ENV_HELP = ("NAME=VALUE in the model servers' environment; VALUE may hold ${secret:NAME}, "
             "resolved by `loopml serve` at start and never stored resolved. Repeatable.")


def _parse_env(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise typer.BadParameter(f"--env takes NAME=VALUE; got {item!r}.")
        out[k] = v
    return out


def _run(fn):  # type: ignore[no-untyped-def]
    try:
        return fn()
    except LoopmlError as e:
        from loopml.cli._common import fail

        raise fail(e) from None


@deployments_app.command("create")
def create(
    name: str = typer.Argument(..., help="Deployment name; clients call /v2/models/<name>/infer."),
    route: list[str] = typer.Option(..., "--route", help=_ROUTE_HELP),
    shadow: list[str] = typer.Option(None, "--shadow", help="Model URI to mirror traffic to (logged, never answered). Repeatable."),
    sticky_header: str = typer.Option(None, help="Route by a hash of this request header (e.g. x-user-id) so a caller keeps its version."),
    replicas: int = typer.Option(1, "--replicas", help=_REPLICAS_HELP),
    env: list[str] = typer.Option(None, "--env", help=_ENV_HELP),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Create a deployment."""
    store = _store(tracking_uri)
    _show(_run(lambda: store.create_deployment(name, _parse_routes(route) or [], shadow or [],
                                               sticky_header, replicas, _parse_env(env))))


@deployments_app.command("update")
def update(
    name: str = typer.Argument(..., help="Deployment name."),
    route: list[str] = typer.Option(None, "--route", help=_ROUTE_HELP + " Replaces all routes."),
    shadow: list[str] = typer.Option(None, "--shadow", help="Replaces the shadow models."),
    no_shadow: bool = typer.Option(False, "--no-shadow", help="Remove all shadow models."),
    sticky_header: str = typer.Option(None, help="Set the sticky routing header."),
    replicas: int = typer.Option(None, "--replicas", help=_REPLICAS_HELP),
    env: list[str] = typer.Option(None, "--env", help=_ENV_HELP + " Replaces the whole env."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Change weights, versions, shadow models, stickiness, replicas or env; servers apply
    it live."""
    store = _store(tracking_uri)
    shadows = [] if no_shadow else (shadow or None)
    _show(_run(lambda: store.update_deployment(name, _parse_routes(route), shadows,
                                               sticky_header, replicas,
                                               _parse_env(env) if env else None)))


@deployments_app.command("get")
def get(name: str = typer.Argument(..., help="Deployment name."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
        tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Show one deployment."""
    d = _run(lambda: _store(tracking_uri).get_deployment(name))
    if as_json:
        typer.echo(json.dumps(d.to_dict(), indent=2))
    else:
        _show(d)


@deployments_app.command("list")
def list_(tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Show all deployments."""
    for d in _run(lambda: _store(tracking_uri).list_deployments()):
        _show(d)


@deployments_app.command("delete")
def delete(name: str = typer.Argument(..., help="Deployment name."),
           tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Delete a deployment (servers keep serving its last spec until restarted)."""
    _run(lambda: _store(tracking_uri).delete_deployment(name))
    typer.echo(f"Deleted deployment {name}.")
