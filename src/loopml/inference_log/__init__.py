"""The inference log as a contract: one record type (``InferenceRecord``, whose Arrow
layout is written once in ``record.py``), one writer (``InferenceLogWriter``) and one reader
(``InferenceLogReader``), over a local folder or any blob store (``s3://``). Serving writes
it; monitoring, the closed loop and retraining read it. See docs/serving.md
("Inference log") for the layout and the durability bound."""

from loopml.inference_log.reader import (
    InferenceLogReader,
    features,
    outputs,
    per_request,
    read_log,
    written_ms,
)
from loopml.inference_log.record import ENVELOPE, InferenceRecord, to_columns
from loopml.inference_log.writer import InferenceLogWriter

__all__ = [
    "ENVELOPE", "InferenceLogReader", "InferenceLogWriter", "InferenceRecord", "features",
    "outputs", "per_request", "read_log", "to_columns", "written_ms",
]
