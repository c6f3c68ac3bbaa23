"""``loopml workspaces ...``: create, list and delete workspaces, and set their quotas
(docs/security.md, "Workspaces" and "Quotas"). Against a server the commands call MLflow's
workspace API (``/api/3.0/mlflow/workspaces``) and ``/api/loopml/v1/workspaces/{name}/quotas``
(admin role to change anything); against a local store they change it directly."""

from __future__ import annotations

from typing import Any

import typer

from loopml.errors import LoopmlError

workspaces_app = typer.Typer(help="Workspaces (MLflow-compatible) and their quotas.",
                             no_args_is_help=True)
quota_app = typer.Typer(help="Per-workspace quotas.", no_args_is_help=True)
workspaces_app.add_typer(quota_app, name="quota")
_URI = typer.Option(None, "--tracking-uri", help="Server or store. Default: LOOPML_TRACKING_URI, "
                    "else the local store.")
_MLFLOW = "/api/3.0/mlflow/workspaces"


def _target(tracking_uri: str | None) -> tuple[Any, Any]:
    """(REST store or None, SQL engine or None) for ``tracking_uri``."""
    from loopml.cli._common import tracking_client
    from loopml.store.rest import RestStore

    store = tracking_client(tracking_uri).store
    return (store, None) if isinstance(store, RestStore) else (None, store.engine)


def _run(fn: Any) -> Any:
    from loopml.cli._common import fail

    try:
        return fn()
    except LoopmlError as e:
        raise fail(e) from None


@workspaces_app.command()
def create(name: str,
           description: str = typer.Option(None, "--description", help="What it is for."),
           artifact_root: str = typer.Option(None, "--artifact-root",
                                             help="Where its experiments keep artifacts."),
           tracking_uri: str = _URI) -> None:
    """Create workspace NAME."""
    def go() -> None:
        rest, engine = _target(tracking_uri)
        if rest is not None:
            rest._call("POST", _MLFLOW, {"name": name, "description": description,
                                         "default_artifact_root": artifact_root})
            return
        from loopml.security._workspaces_sql import SqlWorkspaceStore

        SqlWorkspaceStore(engine).create(name, description, artifact_root)
    _run(go)
    typer.echo(f"created workspace {name}")


@workspaces_app.command("list")
def list_(tracking_uri: str = _URI) -> None:
    """Every workspace, with its description and artifact root."""
    def go() -> list[dict[str, Any]]:
        rest, engine = _target(tracking_uri)
        if rest is not None:
            return list(rest._call("GET", _MLFLOW)["workspaces"])
        from loopml.security._workspaces_sql import SqlWorkspaceStore

        return [w.to_dict() for w in SqlWorkspaceStore(engine).list()]
    for w in _run(go):
        extra = "\t".join(x for x in (w.get("description"), w.get("default_artifact_root")) if x)
        typer.echo(f"{w['name']}\t{extra}".rstrip())


@workspaces_app.command()
def delete(name: str, mode: str = typer.Option(
        "RESTRICT", "--mode", help="RESTRICT: refuse while it holds anything; SET_DEFAULT: "
        "move what it holds to the default workspace."),
        tracking_uri: str = _URI) -> None:
    """Delete workspace NAME (its quotas and secrets go with it)."""
    def go() -> None:
        rest, engine = _target(tracking_uri)
        if rest is not None:
            rest._call("DELETE", f"{_MLFLOW}/{name}?mode={mode}")
            return
        from loopml.security._workspaces_sql import SqlWorkspaceStore

        SqlWorkspaceStore(engine).delete(name, mode)
    _run(go)
    typer.echo(f"deleted workspace {name}")


def _quotas(tracking_uri: str | None, name: str, limits: dict[str, Any]) -> dict[str, Any]:
    rest, engine = _target(tracking_uri)
    path = f"/api/loopml/v1/workspaces/{name}/quotas"
    if rest is not None:
        if limits:
            return dict(rest._call("PUT", path, {"quotas": limits})["quotas"])
        return dict(rest._call("GET", path)["quotas"])
    from loopml.security import quotas
    from loopml.security._workspaces_sql import SqlWorkspaceStore

    SqlWorkspaceStore(engine).get(name)  # refuses an unknown workspace
    if limits:
        quotas.set_limits(engine, name, limits)
    with engine.connect() as conn:
        return quotas.report(conn, name)


def _show(report: dict[str, Any]) -> None:
    for q, v in report.items():
        limit = "unlimited" if v["limit"] is None else v["limit"]
        typer.echo(f"{q}\t{v['usage']} / {limit}")


def _limit(v: int | None) -> int | None:
    # -1 on the command line removes a limit (null in the API); -5 is a typo, not "no limit".
    if v is not None and v < -1:
        raise typer.BadParameter(f"a quota is a limit >= 0, or -1 for no limit; got {v}.")
    return None if v == -1 else v


@quota_app.command("set")
def quota_set(
    name: str,
    runs: int = typer.Option(None, "--runs", help="Most runs (-1: no limit)."),
    registered_models: int = typer.Option(None, "--registered-models",
                                          help="Most registered models (-1: no limit)."),
    deployments: int = typer.Option(None, "--deployments",
                                    help="Most deployments (-1: no limit)."),
    concurrent_pipeline_runs: int = typer.Option(
        None, "--concurrent-pipeline-runs", help="Most pending or running pipeline runs "
        "(-1: no limit)."),
    artifact_bytes: int = typer.Option(
        None, "--artifact-bytes", help="Most artifact bytes uploaded through the server "
        "(-1: no limit)."),
    replicas: int = typer.Option(
        None, "--replicas", help="Most replicas over all deployments (-1: no limit)."),
    cpus: int = typer.Option(
        None, "--cpus", help="Most CPU cores asked for by pending or running pipeline runs, "
        "each run asking for its largest step's resources (-1: no limit)."),
    gpus: int = typer.Option(
        None, "--gpus", help="Most GPUs asked for by pending or running pipeline runs "
        "(-1: no limit)."),
    tracking_uri: str = _URI,
) -> None:
    """Set quotas of workspace NAME (only those given change)."""
    given = {"runs": runs, "registered_models": registered_models, "deployments": deployments,
             "concurrent_pipeline_runs": concurrent_pipeline_runs,
             "artifact_bytes": artifact_bytes, "replicas": replicas, "cpus": cpus,
             "gpus": gpus}
    limits = {k: _limit(v) for k, v in given.items() if v is not None}
    if not limits:
        raise typer.BadParameter("give at least one quota, e.g. --runs 1000.")
    _show(_run(lambda: _quotas(tracking_uri, name, limits)))


@quota_app.command("show")
def quota_show(name: str, tracking_uri: str = _URI) -> None:
    """Usage and limit of each quota of workspace NAME."""
    _show(_run(lambda: _quotas(tracking_uri, name, {})))

__all__ = ["quota_app", "workspaces_app"]
