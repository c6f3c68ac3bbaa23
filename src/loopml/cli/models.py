"""``loopml models ...`` and ``loopml lineage``: the registry and model files from a terminal.

MODEL_URI everywhere is any of: models:/<name>/<version>, models:/<name>@<alias>,
models:/<name>/<stage>, models:/<name>/latest, runs:/<run_id>/<path>, or a model folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from loopml.errors import InvalidParameterValue, LoopmlError

models_app = typer.Typer(
    help="Register, inspect, trust, convert and run models. MODEL_URI: models:/<name>/<version>,"
         " models:/<name>@<alias>, runs:/<run_id>/<path> or a model folder.",
    no_args_is_help=True,
)

_URI_HELP = "Tracking URI: http(s)://server, sqlite:///file or postgresql://... Default: LOOPML_TRACKING_URI, else SQLite under LOOPML_HOME."
_TRUST_HELP = "Allow model files that can run code when loaded (pickle, cloudpickle, joblib, torch.save, TorchScript, skops files naming types outside loopml's allow-list). Only for models you trust."


def _setup(tracking_uri: str | None) -> None:
    if tracking_uri:
        from loopml.tracking._fluent import set_tracking_uri

        set_tracking_uri(tracking_uri)


def _registry():  # type: ignore[no-untyped-def]
    from loopml.store import get_registry_store
    from loopml.tracking._fluent import client

    return get_registry_store(client().store)


def _fail(e: LoopmlError) -> typer.Exit:
    from loopml.cli._common import fail

    return fail(e)


def _read_input(path: Path) -> Any:
    """The rows in ``path``; InvalidParameterValue (exit 2) naming the file when they cannot
    be read (malformed JSON or CSV, a dataframe_split without data)."""
    try:
        return _parse_input(path)
    except (ValueError, KeyError, TypeError) as e:  # JSONDecodeError and pandas' errors too
        raise InvalidParameterValue(
            f"{path}: cannot read the rows ({type(e).__name__}: {e}); give a CSV with a header "
            "row or JSON (dataframe_split, dataframe_records, inputs/instances, or a list of "
            "rows).") from None


def _parse_input(path: Path) -> Any:
    import pandas as pd

    if path.suffix == ".csv":
        return pd.read_csv(path)
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "dataframe_split" in data:
        split = data["dataframe_split"]
        return pd.DataFrame(split["data"], columns=split.get("columns"))
    if isinstance(data, dict) and "dataframe_records" in data:
        return pd.DataFrame.from_records(data["dataframe_records"])
    if isinstance(data, dict) and ("inputs" in data or "instances" in data):
        return data.get("inputs", data.get("instances"))
    return data


@models_app.command("predict")
def predict(
    model_uri: str = typer.Argument(..., help="The model to run."),
    input: Path = typer.Option(..., "--input", "-i", exists=True, dir_okay=False,
                               help="CSV with a header row, or JSON (dataframe_split, dataframe_records, inputs/instances, or a list of rows)."),
    flavor: str = typer.Option(None, help="Use this flavor of a multi-flavor model, e.g. onnx."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help=_TRUST_HELP),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Load MODEL_URI, check the input against its signature, and print predictions as JSON."""
    import numpy as np

    from loopml import models

    _setup(tracking_uri)
    try:
        out = models.load(model_uri, trust=trust_pickle, flavor=flavor).predict(_read_input(input))
    except LoopmlError as e:
        raise _fail(e) from None
    typer.echo(json.dumps({"predictions": np.asarray(out).tolist()}))


@models_app.command("explain")
def explain(
    model_uri: str = typer.Argument(..., help="The model to explain (saved with a background sample: save_model/log_model(..., background=X_train))."),
    input: Path = typer.Option(..., "--input", "-i", exists=True, dir_okay=False,
                               help="Rows to explain: CSV with a header row, or JSON (dataframe_split, dataframe_records, inputs/instances, or a list of rows)."),
    budget_ms: float = typer.Option(None, "--budget-ms", min=1.0, help="Refuse when the estimated time exceeds this many milliseconds (default: no limit)."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help=_TRUST_HELP),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Print SHAP values of MODEL_URI's predictions on the input rows as JSON: exact TreeSHAP
    for tree models, KernelSHAP otherwise, against the background sample
    stored with the model."""
    import orjson

    from loopml import models
    from loopml.models.explain import Explainer

    _setup(tracking_uri)
    try:
        model = models.load(model_uri, trust=trust_pickle)
        rows = model.prepare(_read_input(input))
        exp = Explainer(model).explain(rows, budget_ms)
    except LoopmlError as e:
        raise _fail(e) from None
    typer.echo(orjson.dumps(exp.to_json(), option=orjson.OPT_SERIALIZE_NUMPY).decode())


@models_app.command("info")
def info(
    model_uri: str = typer.Argument(..., help="The model to describe."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Print a model's flavors, signature, ONNX parity record and file digests (no loading)."""
    from loopml.models._mlmodel import MLModel
    from loopml.models.uris import resolve

    _setup(tracking_uri)
    try:
        resolved = resolve(model_uri)
        meta = MLModel.load(resolved.folder)
    except LoopmlError as e:
        raise _fail(e) from None
    typer.echo(json.dumps({
        "uri": model_uri, "flavors": sorted(meta.flavors), "signature": meta.signature,
        "onnx": meta.onnx_parity, "files": meta.file_digests,
        "trusted": resolved.trusted if resolved.version else None,
    }, indent=2))


@models_app.command("to-onnx")
def to_onnx_cmd(
    model_uri: str = typer.Argument(..., help="The model to convert."),
    sample: Path = typer.Option(None, exists=True, dir_okay=False,
                                help="Rows for the parity check (CSV/JSON). Default: the model's saved input example."),
    rtol: float = typer.Option(1e-4, help="Relative tolerance of the parity check."),
    atol: float = typer.Option(1e-4, help="Absolute tolerance of the parity check."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help=_TRUST_HELP),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Export to ONNX, check numerical parity with the native model on sample rows, and
    store the ONNX file as an extra flavor of the same model. An unsupported model is
    reported and left as it is (exit code 0)."""
    from loopml.models.onnx_export import to_onnx

    _setup(tracking_uri)
    try:
        result = to_onnx(model_uri, trust=trust_pickle,
                         sample=_read_input(sample) if sample else None, rtol=rtol, atol=atol)
    except LoopmlError as e:
        raise _fail(e) from None
    if result.converted:
        typer.echo(f"ONNX flavor added ({result.converter}); parity on {result.rows} rows: "
                   f"label agreement {result.label_agreement}, max abs diff "
                   f"{result.max_abs_diff:.3g}. Stored at {result.stored_at}.")
    else:
        typer.echo(result.reason)


@models_app.command("register")
def register(
    model_uri: str = typer.Argument(..., help="runs:/<run_id>/<path> (or another model URI)."),
    name: str = typer.Argument(..., help="Registered model name."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Add MODEL_URI as a new version of registered model NAME (created if needed)."""
    from loopml.models import register_model

    _setup(tracking_uri)
    try:
        mv = register_model(model_uri, name)
    except LoopmlError as e:
        raise _fail(e) from None
    typer.echo(f"Registered {name} version {mv.version} from {model_uri}.")


@models_app.command("alias")
def alias(
    name: str = typer.Argument(..., help="Registered model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="e.g. champion, challenger."),
    version: str = typer.Argument(None, help="Version to point the alias at. Omit with --delete."),
    delete: bool = typer.Option(False, "--delete", help="Remove the alias instead."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Point ALIAS of model NAME at VERSION (moving it if it exists), or --delete it."""
    _setup(tracking_uri)
    try:
        if delete:
            _registry().delete_registered_model_alias(name, alias_name)
            typer.echo(f"Deleted alias {name}@{alias_name}.")
            return
        if version is None:
            typer.echo("Error: give a VERSION, or --delete.", err=True)
            raise typer.Exit(2)
        _registry().set_registered_model_alias(name, alias_name, version)
    except LoopmlError as e:
        raise _fail(e) from None
    typer.echo(f"{name}@{alias_name} -> version {version}.")


@models_app.command("trust")
def trust(
    model_uri: str = typer.Argument(..., help="models:/<name>/<version> or models:/<name>@<alias>."),
    revoke: bool = typer.Option(False, "--revoke", help="Remove the trusted mark."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Mark a registered version trusted: its pickle-based files may then be loaded (by
    load, serve and the closed loop) without --trust-pickle. Needs the admin permission."""
    from loopml.models.uris import resolve_version
    from loopml.tracking._fluent import client

    _setup(tracking_uri)
    try:
        mv = resolve_version(model_uri, client())
        if mv is None:
            typer.echo("Error: trust marks apply to registered versions (models:/<name>/<version>).", err=True)
            raise typer.Exit(2)
        _registry().set_model_version_trusted(mv.name, mv.version, not revoke)
    except LoopmlError as e:
        raise _fail(e) from None
    typer.echo(f"{mv.name} version {mv.version} is {'no longer ' if revoke else ''}trusted.")


@models_app.command("list")
def list_models(
    filter: str = typer.Option(None, "--filter", help="e.g. \"name LIKE 'fraud%'\" or \"tags.team = 'risk'\"."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Show registered models with their aliases and newest versions."""
    from rich.console import Console
    from rich.table import Table

    _setup(tracking_uri)
    try:
        page = _registry().search_registered_models(filter, max_results=1000)
    except LoopmlError as e:
        raise _fail(e) from None
    table = Table(title=f"{len(page)} registered model(s)")
    for col in ("name", "latest version", "aliases", "description"):
        table.add_column(col)
    for m in page:
        latest = max((v.version for v in m.latest_versions), default=None)
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(m.aliases.items()))
        table.add_row(m.name, str(latest or ""), aliases, m.description or "")
    Console().print(table)


@models_app.command("versions")
def versions(
    name: str = typer.Argument(..., help="Registered model name."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Show the versions of registered model NAME, newest first."""
    from rich.console import Console
    from rich.table import Table

    _setup(tracking_uri)
    try:
        _registry().get_registered_model(name)  # an unknown name is an error, not "0 versions"
        page = _registry().search_model_versions(f"name = '{name}'")
    except LoopmlError as e:
        raise _fail(e) from None
    table = Table(title=f"{name}: {len(page)} version(s)")
    for col in ("version", "aliases", "stage", "trusted", "run", "source"):
        table.add_column(col)
    for v in page:
        table.add_row(str(v.version), ", ".join(v.aliases), v.current_stage,
                      "yes" if v.trusted else "no", v.run_id or "", v.source)
    Console().print(table)


def _version_label(n: dict[str, Any]) -> str:
    extra = f" @{', @'.join(n['aliases'])}" if n.get("aliases") else ""
    return (f"[bold]model[/] {n['name']} v{n['version']}{extra} "
            f"(trusted: {'yes' if n.get('trusted') else 'no'})")


def _other_node(n: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in n.items() if k not in ("id", "kind"))
    return f"[bold]{n['kind']}[/] {shown}"


# One label per lineage node kind (registry/lineage.py); an unknown kind shows its fields.
_LINEAGE_LABELS: dict[str, Any] = {
    "model_version": _version_label,
    "run": lambda n: f"[bold]run[/] {n['run_id']} '{n.get('run_name', '')}' "
                     f"({n.get('status', 'missing')})",
    "deployment": lambda n: f"[bold]deployment[/] {n['name']} (revision {n.get('revision')})",
    "dataset": lambda n: f"[bold]dataset[/] {n['name']} digest {n['digest']} from "
                         f"{n.get('source_type')} {n.get('source')}",
    "pipeline_run": lambda n: f"[bold]pipeline run[/] {n['run_id']} ({n.get('pipeline')})",
    "pipeline_step": lambda n: f"[bold]pipeline step[/] {n['step']} of {n['run_id']}",
}


def lineage_cmd(
    model_uri: str = typer.Argument(None, help="models:/<name>/<version> or models:/<name>@<alias>."),
    run_id: str = typer.Option(None, "--run-id", help="Start from a run instead of a model."),
    as_json: bool = typer.Option(False, "--json", help="Print the graph (nodes and edges) as JSON."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Print the chain dataset -> run -> model version for a registered model (or a run)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    from loopml.registry.lineage import lineage
    from loopml.tracking._fluent import client

    _setup(tracking_uri)
    try:
        from loopml.store import get_deployment_store

        g = lineage(client().store, _registry(), model_uri=model_uri, run_id=run_id,
                    deployments=get_deployment_store(client().store))
    except LoopmlError as err:
        raise _fail(err) from None
    if as_json:
        typer.echo(json.dumps(g.to_dict(), indent=2, default=str))
        return
    incoming: dict[str, list[dict[str, str]]] = {}
    for edge in g.edges:
        incoming.setdefault(edge["to"], []).append(edge)

    def label(node_id: str) -> str:
        n = g.nodes[node_id]
        return _LINEAGE_LABELS.get(n["kind"], _other_node)(n)

    def grow(tree: Tree, node_id: str, seen: set[str]) -> None:
        for edge in incoming.get(node_id, []):
            if edge["from"] in seen:
                continue
            ctx = escape(f" [{edge['context']}]") if edge.get("context") else ""
            grow(tree.add(label(edge["from"]) + ctx), edge["from"], seen | {edge["from"]})

    tree = Tree(label(g.root))
    grow(tree, g.root, {g.root})
    for edge in g.edges:  # what the root feeds: a run's versions, a version's deployments
        if edge["from"] == g.root:
            weight = f" ({float(edge['weight']):.0%} of traffic)" if edge.get("weight") else ""
            tree.add(f"{edge['relation'].replace('_', ' ')} {label(edge['to'])}{weight}")
    Console().print(tree)
