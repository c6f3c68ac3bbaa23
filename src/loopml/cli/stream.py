"""``loopml stream lint|replay|explain RULES.yaml``: check a rule file, backtest it over a
Parquet/CSV file, or print its plan (docs/streaming.md). Exit 2 on any rule problem.
``loopml stream run|status APP.yaml``: run a streaming app's worker, or show its consumer
group's state (docs/streaming_apps.md)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

stream_app = typer.Typer(help="Complex-event-processing rules (lint, replay over history, explain) and "
                              "streaming apps on brokers (run, status).",
                         no_args_is_help=True)
_RULES = typer.Argument(..., help="The rule file (YAML; see docs/streaming.md).")


@stream_app.command("lint")
def lint_cmd(rules: Path = _RULES) -> None:
    """List every problem of the rule file (line, key, problem, fix); exit 2 if any."""
    from loopml.errors import InvalidConfig
    from loopml.streaming import compile_rules

    try:
        compile_rules(rules)
    except InvalidConfig as e:
        typer.echo(str(e), err=True)  # one problem per line: line, key path, problem, fix
        raise typer.Exit(2) from None
    typer.echo(f"{rules}: ok")


@stream_app.command("explain")
def explain_cmd(rules: Path = _RULES) -> None:
    """Print the compiled plan: streams (key, columns) and each rule's operators."""
    from loopml.streaming import compile_rules

    typer.echo(compile_rules(rules).explain())


@stream_app.command("replay")
def replay_cmd(
    rules: Path = _RULES,
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Parquet or CSV file of events."),
    source: str = typer.Option(None, help="The source the file feeds (default: the only source)."),
    out: Path = typer.Option(None, file_okay=False, help="Folder to write one Parquet file per output stream."),
    batch_size: int = typer.Option(65536, min=1, help="Rows per micro-batch (results do not depend on it)."),
) -> None:
    """Run the rules over the file (in file order) and print the rows per output stream."""
    import pyarrow.parquet as pq

    from loopml.errors import InvalidConfig
    from loopml.streaming import compile_rules, read_table

    plan = compile_rules(rules)
    if source is None:
        if len(plan.app.sources) != 1:
            raise InvalidConfig(f"--source is required: the rules have sources {sorted(plan.app.sources)}")
        source = next(iter(plan.app.sources))
    if source not in plan.app.sources:
        raise InvalidConfig(f"--source {source!r} is not a source of {rules}; sources: {sorted(plan.app.sources)}")
    table = read_table(data)
    t0 = time.perf_counter()
    result = plan.replay(source, table, batch_size=batch_size)
    secs = time.perf_counter() - t0
    typer.echo(f"{table.num_rows} events in {secs:.3f} s ({table.num_rows / max(secs, 1e-9):,.0f} events/s)")
    for name, t in sorted(result.items()):
        typer.echo(f"  {name}: {t.num_rows} rows")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            pq.write_table(t, out / f"{name}.parquet")

_APP = typer.Argument(..., help="The app file (YAML; see docs/streaming_apps.md).")


@stream_app.command("run")
def run_cmd(
    app_file: Path = _APP,
    consumer: str = typer.Option(None, help="This worker's name in the consumer group (default: host-pid). "
                                 "Keep it across restarts to re-read its own unacked messages first."),
    seconds: float = typer.Option(None, min=0, help="Stop after this many seconds (default: until SIGTERM/Ctrl-C)."),
) -> None:
    """Run one worker of the app: read its sources in the app's consumer group, run the rules,
    write the sinks, ack. Start more processes (here or on other machines) to scale out;
    a dead worker's unacked messages go to the others after the source's claim_idle."""
    import logging
    import signal

    from loopml.streaming.appfile import load_app
    from loopml.streaming.worker import StreamWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec, base = load_app(app_file)
    worker = StreamWorker(spec, base, consumer=consumer)
    worker.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: worker.request_stop())
    typer.echo(f"app {spec.app}: worker {worker.consumer} in group {spec.group_name}, "
               f"sources {sorted(spec.sources)}, sinks {sorted(worker.sinks)}")
    try:
        worker.run(max_seconds=seconds)
    finally:
        worker.close()
    typer.echo(f"stopped after {worker.batches} batches")


@stream_app.command("status")
def status_cmd(app_file: Path = _APP,
               json_out: bool = typer.Option(False, "--json", help="Print JSON instead of text.")) -> None:
    """Per source: stream length, the group's lag (not yet delivered) and pending (delivered,
    not acked), and each consumer's pending count and idle time (Redis, NATS)."""
    import json

    from loopml.streaming.appfile import load_app
    from loopml.streaming.status import app_status

    spec, _ = load_app(app_file)
    rows = app_status(spec)
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        typer.echo(f"{r['source']}: {r['url']} {r['stream']} group={r['group']} length={r['length']} "
                   f"lag={r['lag']} pending={r['pending']}" + (f" ({r['note']})" if r.get("note") else ""))
        for c in r["consumers"]:
            typer.echo(f"  {c['name']}: pending={c['pending']} idle={c['idle_ms']} ms")


__all__ = ["stream_app"]
