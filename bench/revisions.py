"""Before/after benchmark: loopml at two git revisions on the same hot-path workload, in one
run, interleaved, so that a change's cost is measured against the code it replaced on the
same machine at the same moment.

    .venv/bin/python bench/revisions.py --base REV [--head REV] [--repeat 3] [--seconds 5]

Each revision's ``src/`` is exported with ``git archive`` into a temporary folder and its
servers run with ``PYTHONPATH`` pointing there (the venv's dependencies are shared). With no
``--head``, the working tree is the head. Phases:

- tracking: the real ``mlflow`` client against ``loopml server`` (SQLite): the phases of
  ``bench/tracking.py`` (log_metric, log_batch, history, run creation, search) plus raw HTTP;
- serving: ``bench/loadgen.py`` against ``loopml serve`` (ONNX flavor of a
  HistGradientBoosting model on breast cancer), 1-row V2 and /invocations at c=1 and c=32.

Each phase keeps its best figure over ``--repeat`` interleaved passes (base, head, base, head):
on a shared 2-core machine one pass swings by tens of percent for both alike. Prints
head / base per phase and writes bench/results/revisions.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))
from _servers import start_loopml, stop  # noqa: E402

from serving import free_port, load, wait_ready  # noqa: E402
from serving import start as start_process  # noqa: E402
from serving import stop as stop_process  # noqa: E402
from tracking import workload  # noqa: E402

SIZES = dict(log_metric=500, batches=20, history=20000, history_calls=3, runs=200,
             searches=50, search_all=5)


def export_src(rev: str, into: Path) -> Path:
    """Write revision ``rev``'s ``src/`` under ``into``; return the folder for PYTHONPATH."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "src"], cwd=HERE.parent, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


@contextlib.contextmanager
def python_path(src: Path) -> Iterator[None]:
    """Child processes started inside import loopml from ``src``."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(src)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def tracking_pass(work: Path) -> dict[str, float]:
    work.mkdir()
    url, proc = start_loopml(work)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return workload(url, SIZES)
    finally:
        stop(proc)


def serving_pass(model: Path, bodies: dict[str, Path], seconds: float) -> dict[str, float]:
    port = free_port()
    proc = start_process([sys.executable, "-m", "loopml", "serve", f"hgb={model}",
                          "--port", str(port), "--grpc-port", "0"], cwd=model.parent)
    out: dict[str, float] = {}
    try:
        wait_ready(f"http://127.0.0.1:{port}/v2/health/ready")
        urls = {"v2": f"http://127.0.0.1:{port}/v2/models/hgb/infer",
                "invocations": f"http://127.0.0.1:{port}/invocations"}
        for proto, url in urls.items():
            for c in (1, 32):
                load(url, bodies[proto], c, 1.0)  # warm-up
                r = load(url, bodies[proto], c, seconds)
                if r["errors"]:
                    raise RuntimeError(f"{proto} c={c}: {r}")
                out[f"serve {proto} c={c} req/s"] = r["rps"]
    finally:
        stop_process(proc)
    return out


def make_model(work: Path) -> tuple[Path, dict[str, Path]]:
    import pandas as pd
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import HistGradientBoostingClassifier

    from loopml import models
    from loopml.models.onnx_export import to_onnx

    data = load_breast_cancer()
    x = pd.DataFrame(data.data, columns=data.feature_names)
    clf = HistGradientBoostingClassifier(max_iter=100).fit(x, data.target)
    models.save_model(clf, work / "model", input_example=x[:50])
    to_onnx(str(work / "model"))
    row = x.iloc[0].tolist()
    v2, inv = work / "v2.json", work / "invocations.json"
    v2.write_text(json.dumps({"inputs": [{"name": "input-0", "shape": [1, 30],
                                          "datatype": "FP64", "data": row}]}))
    inv.write_text(json.dumps({"dataframe_split": {"columns": list(x.columns), "data": [row]}}))
    return work / "model", {"v2": v2, "invocations": inv}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="git revision to compare against")
    ap.add_argument("--head", default=None, help="git revision (default: the working tree)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved passes; best kept")
    ap.add_argument("--seconds", type=float, default=5.0, help="seconds per serving phase")
    ap.add_argument("--skip", default="", help="comma-separated: tracking,serving")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    results: dict[str, dict[str, float]] = {"base": {}, "head": {}}
    with tempfile.TemporaryDirectory(prefix="loopml-bench-rev-") as d:
        work = Path(d)
        trees = {"base": export_src(args.base, work / "base")}
        trees["head"] = (export_src(args.head, work / "head") if args.head
                         else HERE.parent / "src")
        model, bodies = make_model(work)
        for rep in range(args.repeat):
            for side in ("base", "head"):
                with python_path(trees[side]):
                    got: dict[str, float] = {}
                    if "tracking" not in skip:
                        got |= tracking_pass(work / f"track-{side}-{rep}")
                    if "serving" not in skip:
                        got |= serving_pass(model, bodies, args.seconds)
                best = results[side]
                for phase, v in got.items():
                    best[phase] = max(best.get(phase, 0.0), v)
                print(f"pass {rep + 1}/{args.repeat} {side} done", flush=True)
    head_name = args.head or "working tree"
    print(f"\n{'phase':42} {'base ' + args.base[:10]:>16} {'head ' + head_name[:12]:>18} "
          f"{'head/base':>10}")
    for phase, b in results["base"].items():
        h = results["head"].get(phase, 0.0)
        print(f"{phase:42} {b:16,.1f} {h:18,.1f} {h / b:10.3f}")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "revisions.json").write_text(json.dumps(
        {"base": args.base, "head": head_name, "repeat": args.repeat, "sizes": SIZES,
         "results": results}, indent=2))
    print(f"wrote {out / 'revisions.json'}")


if __name__ == "__main__":
    main()
