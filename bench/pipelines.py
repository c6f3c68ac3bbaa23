"""Pipeline and tuning benchmarks: loopml vs Prefect 3 and Optuna (and Ray Tune), one run.

    .venv/bin/python bench/pipelines.py [--quick] [--skip-prefect] [--skip-ray-tune]

Part 1, orchestration overhead: 40 sequential no-op steps (each takes the previous step's
result, so they run in order), per step = pipeline wall time / 40, after one warm-up run.
loopml runs in-process and on the process executor (one worker), with the step cache off
so every step executes, against an embedded SQLite store, as `make demo` would. Prefect
3.8.8 runs the same 40-task flow from its own venv (bench/.venv-prefect, created on first
use with fastapi==0.139.*), with its default local ephemeral server.

Part 2, tuning overhead per trial: a trivial 3-parameter objective, 1,000 trials (200 with
--quick), TPE and random sampling. Optuna alone (in-memory storage, and SQLite storage) vs
loopml.tuning.tune, where every trial is also a tracked run (params, value, state) in a
SQLite store, on a file in /dev/shm ("in-memory") and on disk. loopml's overhead is its time
per trial minus Optuna's in-memory time with the same sampler. Ray Tune (same objective,
random search) runs too when it imports.

Prints tables and writes bench/results/pipelines.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
PREFECT_VENV = HERE / ".venv-prefect"
STEPS = 40

PREFECT_JOB = """
import json, time
from prefect import flow, task

@task
def noop(prev):
    return None

@flow
def chain(n: int):
    prev = None
    for _ in range(n):
        prev = noop(prev)
    return prev

chain(%(steps)d)  # warm-up: starts the ephemeral server, creates the flow
times = []
for _ in range(%(reps)d):
    t = time.perf_counter(); chain(%(steps)d); times.append(time.perf_counter() - t)
print(json.dumps({"per_step_ms": min(times) / %(steps)d * 1000, "all": times}))
"""


def ensure_prefect() -> Path:
    py = PREFECT_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PREFECT_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "prefect==3.8.8",
                        "fastapi==0.139.*"], check=True)
    return py


def bench_prefect(reps: int) -> dict:
    py = ensure_prefect()
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PREFECT_HOME": home, "PREFECT_LOGGING_LEVEL": "ERROR",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        out = subprocess.run([str(py), "-c", PREFECT_JOB % {"steps": STEPS, "reps": reps}],
                             capture_output=True, text=True, env=env, timeout=900)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def chain_pipeline():  # type: ignore[no-untyped-def]
    from loopml.pipelines import pipeline, step

    @step
    def noop(prev: None = None) -> None:
        return None

    @pipeline
    def chain():  # type: ignore[no-untyped-def]
        prev = None
        for _ in range(STEPS):
            prev = noop(prev)

    return chain


def bench_loopml_steps(executor: str, reps: int) -> dict:
    from loopml.pipelines import get_executor
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient

    with tempfile.TemporaryDirectory() as d:
        client = TrackingClient(store=SqlStore(f"sqlite:///{d}/db.sqlite", f"{d}/artifacts"))
        p = chain_pipeline()
        ex = get_executor(executor)  # one pool for all runs: warm workers, as in a server
        try:
            p.run(client=client, executor=ex, cache=False)  # warm-up
            times = []
            for _ in range(reps):
                t = time.perf_counter()
                res = p.run(client=client, executor=ex, cache=False)
                times.append(time.perf_counter() - t)
                assert res.succeeded, res.run.error
            t = time.perf_counter()
            cached = p.run(client=client, executor=ex)  # second run with the cache on
            p.run(client=client, executor=ex)
            cached_s = time.perf_counter() - t
            assert cached.succeeded
        finally:
            ex.shutdown()
    return {"per_step_ms": min(times) / STEPS * 1000, "all": times,
            "cached_per_step_ms": cached_s / 2 / STEPS * 1000}


# ---- tuning -------------------------------------------------------------------------------
def objective_optuna(trial) -> float:  # type: ignore[no-untyped-def]
    x = trial.suggest_float("x", -5, 5)
    y = trial.suggest_float("y", -5, 5)
    z = trial.suggest_int("z", 0, 10)
    return (x - 1) ** 2 + (y + 2) ** 2 + z


def objective_loopml(trial) -> float:  # type: ignore[no-untyped-def]
    return (trial["x"] - 1) ** 2 + (trial["y"] + 2) ** 2 + trial["z"]


def bench_optuna(n: int, sampler: str, storage: str | None) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    smp = optuna.samplers.TPESampler(seed=0) if sampler == "tpe" else \
        optuna.samplers.RandomSampler(seed=0)
    study = optuna.create_study(sampler=smp, storage=storage)
    t = time.perf_counter()
    study.optimize(objective_optuna, n_trials=n)
    return (time.perf_counter() - t) / n * 1000


def bench_loopml_tune(n: int, sampler: str, folder: str) -> float:
    from loopml.store.sql import SqlStore
    from loopml.tracking._client import TrackingClient
    from loopml.tuning import randint, tune, uniform

    client = TrackingClient(store=SqlStore(f"sqlite:///{folder}/db.sqlite", f"{folder}/art"))
    space = {"x": uniform(-5, 5), "y": uniform(-5, 5), "z": randint(0, 10)}
    t = time.perf_counter()
    r = tune(objective_loopml, space, n_trials=n, sampler=sampler, seed=0, client=client)
    dt = (time.perf_counter() - t) / n * 1000
    assert len(r.trials) == n
    client.store.close()  # type: ignore[attr-defined]
    return dt


def bench_ray_tune(n: int) -> float | None:
    try:
        import ray
        from ray import tune as rtune
    except ImportError:
        return None

    def trainable(config):  # type: ignore[no-untyped-def]
        return {"loss": (config["x"] - 1) ** 2 + (config["y"] + 2) ** 2 + config["z"]}

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             ignore_reinit_error=True)
    try:
        with tempfile.TemporaryDirectory() as d:
            space = {"x": rtune.uniform(-5, 5), "y": rtune.uniform(-5, 5),
                     "z": rtune.randint(0, 11)}
            tuner = rtune.Tuner(
                trainable, param_space=space,
                tune_config=rtune.TuneConfig(num_samples=n, metric="loss", mode="min"),
                run_config=ray.tune.RunConfig(storage_path=d, verbose=0))
            t = time.perf_counter()
            tuner.fit()
            return (time.perf_counter() - t) / n * 1000
    finally:
        ray.shutdown()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--skip-prefect", action="store_true")
    ap.add_argument("--skip-ray-tune", action="store_true")
    args = ap.parse_args()
    reps = 2 if args.quick else 5
    trials = 200 if args.quick else 1000
    results: dict = {"steps": STEPS, "trials": trials}

    print(f"== {STEPS} sequential no-op steps (per step, best of {reps}, after a warm-up) ==")
    inproc = bench_loopml_steps("inprocess", reps)
    proc = bench_loopml_steps("process:1", reps)
    results["loopml_inprocess"], results["loopml_process"] = inproc, proc
    rows = [("loopml in-process", inproc["per_step_ms"]),
            ("loopml in-process, all cached", inproc["cached_per_step_ms"]),
            ("loopml process executor", proc["per_step_ms"])]
    if not args.skip_prefect:
        pf = bench_prefect(reps)
        results["prefect"] = pf
        rows.append(("Prefect 3.8.8 (local)", pf["per_step_ms"]))
    for name, ms in rows:
        print(f"  {name:<32} {ms:8.2f} ms/step")
    if "prefect" in results:
        for key, label in (("loopml_inprocess", "in-process"), ("loopml_process", "process")):
            ratio = results["prefect"]["per_step_ms"] / results[key]["per_step_ms"]
            results[f"prefect_over_{key}"] = ratio
            print(f"  Prefect / loopml {label}: {ratio:.1f}x")

    print(f"\n== tuning, {trials} trials of a trivial objective (ms per trial) ==")
    tune_rows = {}
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").exists() else None) as shm, \
            tempfile.TemporaryDirectory() as disk:
        for sampler in ("random", "tpe"):
            row = {
                "optuna_memory": bench_optuna(trials, sampler, None),
                "optuna_sqlite": bench_optuna(
                    min(trials, 300), sampler, f"sqlite:///{disk}/optuna-{sampler}.db"),
                "loopml_tracking_memory": bench_loopml_tune(trials, sampler, f"{shm}/{sampler}"),
                "loopml_tracking_sqlite": bench_loopml_tune(trials, sampler, f"{disk}/{sampler}"),
            }
            row["loopml_overhead_memory"] = row["loopml_tracking_memory"] - row["optuna_memory"]
            row["loopml_overhead_sqlite"] = row["loopml_tracking_sqlite"] - row["optuna_memory"]
            tune_rows[sampler] = row
    if not args.skip_ray_tune:
        tune_rows["ray_tune_random"] = {"per_trial_ms": bench_ray_tune(min(trials, 200))}
    results["tuning"] = tune_rows
    for sampler in ("random", "tpe"):
        r = tune_rows[sampler]
        print(f"  {sampler}: Optuna in-memory {r['optuna_memory']:.2f}, Optuna SQLite "
              f"storage {r['optuna_sqlite']:.2f}, loopml (tracked, SQLite on tmpfs) "
              f"{r['loopml_tracking_memory']:.2f}, loopml (tracked, SQLite on disk) "
              f"{r['loopml_tracking_sqlite']:.2f}; loopml overhead {r['loopml_overhead_memory']:.2f}"
              f" / {r['loopml_overhead_sqlite']:.2f}")
    rt = tune_rows.get("ray_tune_random", {}).get("per_trial_ms")
    if rt is not None:
        print(f"  Ray Tune (random, {min(trials, 200)} trials): {rt:.2f} ms/trial")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "pipelines.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
