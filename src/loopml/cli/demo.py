"""``loopml demo``: the first thing a new user runs (``make demo``): the closed loop on a
predictive-maintenance scenario (see loopml.demo.run)."""

from __future__ import annotations

import typer


def demo(
    keep_running: bool = typer.Option(False, help="Leave the tracking server and the model server running at the end (Ctrl-C stops them)."),
    fast: bool = typer.Option(False, help="A shorter configuration (less data, fewer tuning trials, smaller windows), as the tests use."),
    bad_challenger: bool = typer.Option(False, "--bad-challenger", help="Retrain on inverted labels and let the gate pass it, to watch the canary roll it back. Exits 0 when it was rolled back."),
) -> None:
    """Run the whole closed loop on one machine: train a champion with a tuned pipeline,
    serve it, send traffic with late labels, detect drift and a quality drop, retrain,
    gate, canary and promote. Embedded defaults only (SQLite and folders under
    LOOPML_HOME). Exits 1 if the loop did not close."""
    from rich.console import Console

    from loopml.demo.run import Config, run_demo

    cfg = Config.fast() if fast else Config()
    cfg.bad_challenger = bad_challenger
    code = run_demo(cfg, keep_running, Console())
    raise typer.Exit(code)
