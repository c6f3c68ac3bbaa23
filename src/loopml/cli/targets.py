"""``loopml target ...``: target profiles and target-aware optimisation (docs/targets.md)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

target_app = typer.Typer(
    help="Target profiles (device, workload, budgets) and choosing the model variant that "
         "meets them: create, probe, list, show, optimize.",
    no_args_is_help=True,
)
_URI_HELP = "Tracking URI (default: LOOPML_TRACKING_URI, else the local store)."


def _store(tracking_uri: str | None):  # type: ignore[no-untyped-def]
    from loopml.cli._common import tracking_client
    from loopml.targets.store import ProfileStore

    return ProfileStore(tracking_client(tracking_uri))


@target_app.command("create")
def create(
    file: Path = typer.Option(..., "--file", "-f", dir_okay=False,
                              help="Profile YAML or JSON (docs/targets.md shows every key)."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Validate a profile file and store it as the next version of its name."""
    from loopml.targets.profile import load_profile

    profile = load_profile(file)
    version = _store(tracking_uri).create(profile)
    typer.echo(f"target {profile.name} version {version}")


@target_app.command("probe")
def probe_cmd(
    name: str = typer.Option("this-machine", help="Profile name."),
    budget_ms: float = typer.Option(None, help="p99 latency budget (ms) at batch 1."),
    peak_memory_mb: float = typer.Option(None, help="Peak memory budget (MB)."),
    artifact_max_mb: float = typer.Option(None, help="Artifact size budget (MB)."),
    max_drop: float = typer.Option(None, help="Largest accuracy drop vs fp32 (points)."),
    cores: int = typer.Option(None, help="Override the core count (emulate a smaller box)."),
    save: bool = typer.Option(False, "--save", help="Store it (versioned) instead of only printing."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Describe this host as a profile (/proc/cpuinfo flags, usable cores, memory) and
    print it as JSON; --save stores it."""
    from loopml.targets.profile import probe, profile_from_dict

    p = probe(name, budget_ms=budget_ms, peak_memory_mb=peak_memory_mb,
              artifact_max_mb=artifact_max_mb, max_drop_vs_fp32=max_drop)
    if cores is not None:
        d = p.to_dict()
        d["hardware"]["cpu"]["cores"] = cores
        p = profile_from_dict(d, "--cores")
    typer.echo(json.dumps(p.to_dict(), indent=1))
    if save:
        typer.echo(f"target {p.name} version {_store(tracking_uri).create(p)}", err=True)


@target_app.command("list")
def list_cmd(tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Stored profiles: name, latest version, number of versions."""
    for row in _store(tracking_uri).list():
        typer.echo(f"{row['name']}\tv{row['latest']}\t({row['versions']} versions)")


@target_app.command("show")
def show(name: str = typer.Argument(..., help="NAME or NAME@VERSION."),
         tracking_uri: str = typer.Option(None, help=_URI_HELP)) -> None:
    """Print a stored profile as JSON."""
    profile, version = _store(tracking_uri).get(name)
    typer.echo(json.dumps({"version": version, **profile.to_dict()}, indent=1))


@target_app.command("optimize")
def optimize_cmd(
    model_uri: str = typer.Argument(..., help="The model: models:/NAME/VERSION, an alias, or a folder."),
    target: str = typer.Option(..., "--target", help="Stored profile NAME[@VERSION], or a profile file."),
    data: Path = typer.Option(..., "--data", dir_okay=False, exists=True,
                              help="Holdout rows with labels (Parquet or CSV); also the INT8 calibration set."),
    label: str = typer.Option("label", help="Label column in --data."),
    calls: int = typer.Option(1000, min=10, help="Timed calls per candidate and round."),
    rounds: int = typer.Option(3, min=1, help="Interleaved rounds."),
    no_register: bool = typer.Option(False, "--no-register", help="Do not register the chosen variant."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow model files that run code when loaded."),
    tracking_uri: str = typer.Option(None, help=_URI_HELP),
) -> None:
    """Build the candidate variants, measure them (pinned to the profile's cores), choose the
    most accurate one within budget and register it as a derived version. Exit 1 when no
    candidate is feasible (the nearest misses are printed)."""
    from loopml.targets.optimize import optimize, read_holdout
    from loopml.targets.profile import load_profile

    store = _store(tracking_uri)
    if Path(target).is_file():
        profile, ref = load_profile(target), target
    else:
        profile, version = store.get(target)
        ref = f"{profile.name}@{version}"
    report = optimize(model_uri, profile, read_holdout(data, label), calls=calls, rounds=rounds,
                      trust=trust_pickle, register=not no_register, profile_ref=ref,
                      client=store.client)
    for m in report.measurements:
        if m.ok or m.candidate.name == "native":
            typer.echo(f"{m.candidate.name:16} p50 {m.p50_ms:9.4f} ms  p99 {m.p99_ms:9.4f} ms "
                       f"[{m.badge}]  rss {m.peak_rss_mb:6.0f} MB  {m.metric} "
                       f"{'n/a' if m.accuracy is None else f'{m.accuracy:.4f}'}")
        else:
            typer.echo(f"{m.candidate.name:16} pruned: {m.error}")
    typer.echo(report.selection.message)
    typer.echo(f"run {report.run_id}" + (f"; registered {report.derived_uri}"
                                         if report.derived_uri else ""))
    if report.chosen is None:
        raise typer.Exit(1)


__all__ = ["target_app"]
