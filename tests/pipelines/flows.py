"""Steps and pipelines the pipeline tests run (importable, so process workers, resume and
triggers can find them by module:attr)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pandas as pd

import loopml
from loopml.pipelines import pipeline, step


@step
def make(n: int) -> pd.DataFrame:
    print(f"making {n} rows")
    return pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 2})


@step(outputs=("train", "test"))
def split(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    cut = int(len(df) * 0.8)
    return df.iloc[:cut], df.iloc[cut:]


@step
def fit(train: pd.DataFrame, c: float = 1.0):  # type: ignore[no-untyped-def]
    from sklearn.linear_model import LogisticRegression

    loopml.log_param("c", c)
    model = LogisticRegression(C=c).fit(train[["x"]], train["y"])
    loopml.log_metric("train_rows", len(train))
    return model


@step
def evaluate(model, test: pd.DataFrame) -> dict:  # type: ignore[no-untyped-def]
    return {"accuracy": float((model.predict(test[["x"]]) == test["y"]).mean()),
            "rows": len(test)}


@pipeline
def training(n: int = 50, c: float = 1.0):  # type: ignore[no-untyped-def]
    train, test = split(make(n))
    return evaluate(fit(train, c=c), test)


# ---- failure handling ---------------------------------------------------------------------
def _bump(marker_dir: str, name: str) -> int:
    """Count attempts across processes with files."""
    d = Path(marker_dir)
    d.mkdir(parents=True, exist_ok=True)
    n = len(list(d.glob(f"{name}-*"))) + 1
    (d / f"{name}-{n}").touch()
    return n


@step(retries=2, retry_backoff=0.05)
def flaky(marker_dir: str, fail_times: int = 2) -> int:
    n = _bump(marker_dir, "flaky")
    if n <= fail_times:
        raise RuntimeError(f"transient failure {n}")
    return n


@step
def breaks(marker_dir: str) -> int:
    if not (Path(marker_dir) / "fixed").exists():
        raise ValueError("broken until the marker file 'fixed' exists")
    return 1


@step
def after(x: int) -> int:
    return x + 1


@step
def independent(marker_dir: str) -> str:
    _bump(marker_dir, "independent")
    return "done"


@pipeline
def branches(marker_dir: str):  # type: ignore[no-untyped-def]
    after(breaks(marker_dir))
    independent(marker_dir)
    after(flaky(marker_dir, fail_times=1))


@step(timeout=1.0)
def sleepy(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@pipeline
def slow(seconds: float = 30.0):  # type: ignore[no-untyped-def]
    sleepy(seconds)


@step(retries=1, retry_backoff=0.01)
def dies_once(marker_dir: str) -> int:
    """Kills its own worker process on the first attempt."""
    if _bump(marker_dir, "dies") == 1:
        os._exit(1)
    return os.getpid()


@pipeline
def crashing(marker_dir: str):  # type: ignore[no-untyped-def]
    dies_once(marker_dir)


@step
def where() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname()}


@pipeline
def parallel():  # type: ignore[no-untyped-def]
    where()
    where()


@step
def bad_output():  # type: ignore[no-untyped-def]  # no annotation: only run time can tell
    return object()


@step
def returns_socket() -> socket.socket:  # unserialisable by annotation: lint catches it
    raise AssertionError("never runs")


@pipeline
def unstorable():  # type: ignore[no-untyped-def]
    returns_socket()


@pipeline
def bad_at_runtime():  # type: ignore[no-untyped-def]
    bad_output()


@step
def record_event(event: dict, marker_dir: str) -> dict:
    _bump(marker_dir, "event")
    return event


@pipeline
def on_event(marker_dir: str, event: dict | None = None):  # type: ignore[no-untyped-def]
    record_event(event, marker_dir)


@step
def noop() -> None:
    return None


@pipeline
def tick(marker_dir: str):  # type: ignore[no-untyped-def]
    independent(marker_dir)
