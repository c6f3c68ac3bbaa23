"""``loopml k8s ...``: the Helm chart's manifests without Helm (docs/kubernetes.md)."""

from __future__ import annotations

from pathlib import Path

import typer

k8s_app = typer.Typer(help="Kubernetes manifests: the Helm chart deploy/helm/loopml, "
                      "rendered without Helm.", no_args_is_help=True)


@k8s_app.command("render")
def render_cmd(
    values: list[Path] = typer.Option(None, "-f", "--values", exists=True, dir_okay=False, help="Values file (YAML), as for `helm template -f`; repeat to layer several (later files win; mappings merge, lists replace)."),
    output: Path = typer.Option(None, "--output", "-o", file_okay=False, help="Write one file per object (NN-kind-name.yaml) into this folder instead of one YAML stream on stdout."),
    release: str = typer.Option("loopml", "--release-name", help="The Helm release name (prefix of every object name)."),
    namespace: str = typer.Option("loopml", "--namespace", "-n", help="The release namespace."),
) -> None:
    """Print the manifests the Helm chart deploy/helm/loopml would install for these values
    (the same objects; tests compare them with Helm's). Values that would deploy an insecure
    pod (root, no resource limits) or an inconsistent release fail with the reason (exit 2).
    Apply with `kubectl apply -f DIR`."""
    from loopml._config import read_yaml
    from loopml.errors import InvalidConfig
    from loopml.k8s import load_values, render
    from loopml.k8s._render import dump, dump_all

    try:
        docs = [read_yaml(p) or {} for p in values or []]
        where = ", ".join(str(p) for p in values or []) or "values"
        objs = render(load_values(docs, where), release, namespace)
    except InvalidConfig as e:
        typer.echo(f"Error: {e.message}", err=True)
        raise typer.Exit(2) from None
    if output is None:
        typer.echo(dump_all(objs), nl=False)
        return
    output.mkdir(parents=True, exist_ok=True)
    for i, o in enumerate(objs):
        name = f"{i:02d}-{o['kind'].lower()}-{o['metadata']['name']}.yaml"
        (output / name).write_text(dump(o))
    typer.echo(f"Wrote {len(objs)} objects to {output}.")


@k8s_app.command("schema")
def schema_cmd() -> None:
    """Print the JSON schema of the chart's values (deploy/helm/loopml/values.schema.json)."""
    import json

    from loopml.k8s import values_schema

    typer.echo(json.dumps(values_schema(), indent=2, sort_keys=True))


@k8s_app.command("values")
def values_cmd() -> None:
    """Print the chart's default values (deploy/helm/loopml/values.yaml)."""
    import yaml

    from loopml.k8s import default_values

    typer.echo(yaml.safe_dump(default_values(), sort_keys=False), nl=False)


__all__ = ["k8s_app"]
