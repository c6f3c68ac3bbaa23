"""Batch prediction as a pipeline step, so it can be scheduled (``loopml pipeline schedule
flows:nightly --cron "0 2 * * *"``), triggered by events (``dataset.version_created``) and
chained after training:

    from loopml.batch.step import batch_predict
    from loopml.pipelines import pipeline

    @pipeline
    def nightly(day: str = "2026-12-01"):
        return batch_predict("models:/fraud@champion", f"s3://lake/{day}/*.parquet",
                             f"scores/{day}.parquet")

The step returns a small summary (output path, rows, chunks, seconds) that travels to the
next step; the scores themselves stay in the Parquet file. Resume works across step retries:
a retried step skips the chunks its failed attempt wrote.
"""

from __future__ import annotations

from typing import Any

from loopml.pipelines import step

__all__ = ["batch_predict"]


@step(cache=False)  # the model behind an alias and the data behind a URI change under a key
def batch_predict(model_uri: str, input_uri: str, output: str, chunk_rows: int = 100_000,
                  workers: int = 1, inference_log: str = "",
                  keep_columns: str = "") -> dict[str, Any]:
    """``loopml.batch.predict_batch`` as a step; ``keep_columns`` is comma-separated."""
    from loopml.batch import predict_batch

    r = predict_batch(model_uri, input_uri, output, chunk_rows=chunk_rows, workers=workers,
                      inference_log=inference_log or None,
                      keep_columns=[c for c in keep_columns.split(",") if c] or None)
    return {"output": str(r.output), "rows": r.rows, "chunks": r.chunks,
            "seconds": r.seconds}
