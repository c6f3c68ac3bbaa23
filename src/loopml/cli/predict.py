"""``loopml predict``: batch prediction from any data URI into a Parquet file."""

from __future__ import annotations

from pathlib import Path

import typer

__all__ = ["predict"]


def predict(
    model_uri: str = typer.Argument(..., help="models:/name/3, models:/name@champion, runs:/ID/model or a folder."),
    input: str = typer.Option(..., "--input", "-i", help="Data: a path, glob or URI (s3://, postgresql://...?query=, duckdb://?query=)."),
    output: Path = typer.Option(..., "--output", "-o", help="Parquet file to write (written under a temporary name, then renamed)."),
    chunk_rows: int = typer.Option(100_000, "--chunk-rows", min=1, help="Rows per chunk (the unit of work, of resume and of the inference log)."),
    workers: int = typer.Option(1, "--workers", min=1, help="Worker processes (each pinned to one BLAS/OpenMP thread); with Ray, chunks in flight / 2."),
    executor: str = typer.Option("process", "--executor", help="process, ray (a local Ray cluster) or ray:ADDRESS."),
    keep_column: list[str] = typer.Option(None, "--keep-column", help="Input column copied to the output (an id), repeatable."),
    inference_log: str = typer.Option(None, "--inference-log", help="Also log every chunk to this inference log (folder or s3://), so monitors cover batch scoring."),
    deployment: str = typer.Option("batch", "--deployment", help="Deployment name in the inference log."),
    flavor: str = typer.Option(None, help="Use this flavor of a multi-flavor model, e.g. onnx."),
    trust_pickle: bool = typer.Option(False, "--trust-pickle", help="Allow model files that can run code when loaded (pickle, ...). Only for models you trust."),
    tracking_uri: str = typer.Option(None, "--tracking-uri", help="Where models:/ URIs resolve. Default: LOOPML_TRACKING_URI, else the local store."),
) -> None:
    """Score every row of INPUT with MODEL_URI into OUTPUT (Parquet, with request ids). An
    interrupted run resumes where it stopped when run again with the same arguments."""
    from loopml.batch import predict_batch
    from loopml.cli._common import tracking_client

    tracking_client(tracking_uri)
    r = predict_batch(model_uri, input, output, chunk_rows=chunk_rows, workers=workers,
                      trust=trust_pickle, flavor=flavor, keep_columns=keep_column or None,
                      inference_log=inference_log, deployment=deployment, executor=executor)
    resumed = f" ({r.skipped_chunks} chunk(s) from an earlier run)" if r.skipped_chunks else ""
    typer.echo(f"Predicted {r.rows} rows in {r.chunks} chunk(s){resumed} in {r.seconds:.2f} s "
               f"({r.rows_per_s:,.0f} rows/s) -> {r.output}")
