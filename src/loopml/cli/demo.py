"""``loopml demo``: the first thing a new user runs (``make demo``).

Until the closed loop lands, it trains a handful of scikit-learn models on the breast-cancer
dataset that ships with scikit-learn, tracks each as a run (params, per-iteration loss,
quality metrics, a confusion matrix and the fitted hyperparameters as artifacts), and shows
a leaderboard. Everything uses embedded defaults under LOOPML_HOME.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import typer


def _candidates() -> list[tuple[str, Any, dict[str, Any]]]:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    out: list[tuple[str, Any, dict[str, Any]]] = []
    for c in (0.05, 1.0):
        out.append((f"logreg-C{c}", make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=500)),
                    {"model": "LogisticRegression", "C": c}))
    for n in (50, 200):
        out.append((f"forest-{n}", RandomForestClassifier(n_estimators=n, random_state=0, n_jobs=1),
                    {"model": "RandomForest", "n_estimators": n}))
    for lr in (0.05, 0.2):
        out.append((f"hgb-lr{lr}", HistGradientBoostingClassifier(
            learning_rate=lr, max_iter=150, early_stopping=True, validation_fraction=0.15,
            n_iter_no_change=15, random_state=0),
            {"model": "HistGradientBoosting", "learning_rate": lr, "max_iter": 150}))
    return out


def demo(
    experiment: str = typer.Option("loopml-demo", help="Experiment the demo runs are logged to."),
) -> None:
    """Train and track several models on scikit-learn's breast-cancer data, then show a
    leaderboard. Uses embedded defaults (SQLite and a folder under LOOPML_HOME)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from sklearn.datasets import load_breast_cancer
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split

    import loopml
    from loopml.config import loopml_home

    console = Console()
    t0 = time.time()
    X, y = load_breast_cancer(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=42, stratify=y)
    console.print(f"[bold]loopml demo[/bold]: {len(X)} rows, {X.shape[1]} features "
                  f"(breast cancer), tracking into {loopml_home()}")
    results = []
    cands = _candidates()
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("training", total=len(cands))
        for name, model, params in cands:
            progress.update(task, description=f"training {name}")
            with loopml.start_run(experiment=experiment, run_name=name) as run:
                loopml.log_params(params)
                loopml.log_param("train_rows", len(X_tr))
                start = time.perf_counter()
                model.fit(X_tr, y_tr)
                loopml.log_metric("fit_seconds", time.perf_counter() - start)
                for step, loss in enumerate(getattr(model, "train_score_", [])):
                    loopml.log_metric("train_loss", -float(loss), step=step)
                for step, loss in enumerate(getattr(model, "validation_score_", [])):
                    loopml.log_metric("validation_loss", -float(loss), step=step)
                proba = model.predict_proba(X_te)[:, 1]
                pred = (proba >= 0.5).astype(int)
                scores = {"accuracy": accuracy_score(y_te, pred), "f1": f1_score(y_te, pred),
                          "roc_auc": roc_auc_score(y_te, proba)}
                loopml.log_metrics(scores)
                with tempfile.TemporaryDirectory() as d:
                    cm = Path(d) / "confusion_matrix.json"
                    cm.write_text(json.dumps({"labels": [0, 1],
                                              "matrix": confusion_matrix(y_te, pred).tolist()}))
                    loopml.log_artifact(cm, "evaluation")
                    hp = Path(d) / "hyperparameters.json"
                    hp.write_text(json.dumps(model.get_params(deep=False), default=str, indent=2))
                    loopml.log_artifact(hp, "model")
                loopml.set_tag("dataset", "sklearn.breast_cancer")
                results.append((name, run.run_id, scores))
            progress.advance(task)
    results.sort(key=lambda r: -r[2]["roc_auc"])
    table = Table(title=f"Leaderboard: experiment '{experiment}' (sorted by ROC AUC)")
    for col in ("run", "run id", "accuracy", "F1", "ROC AUC"):
        table.add_column(col, justify="right" if col not in ("run", "run id") else "left")
    for name, rid, s in results:
        table.add_row(name, rid[:8], f"{s['accuracy']:.4f}", f"{s['f1']:.4f}", f"{s['roc_auc']:.4f}")
    console.print(table)
    console.print(f"Done in {time.time() - t0:.1f}s. Browse the runs:")
    console.print(f"  [cyan]loopml runs list --experiment {experiment}[/cyan]")
    console.print("  [cyan]loopml server[/cyan]   then point any mlflow client at it: "
                  "[cyan]MLFLOW_TRACKING_URI=http://127.0.0.1:5000[/cyan]")
