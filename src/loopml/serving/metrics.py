"""Prometheus metrics of the data plane, per model and version, on the app's own registry,
plus process CPU and memory; with ``--workers N`` aggregated over the processes
(loopml._prometheus)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

_LATENCY = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_BATCH = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class ServingMetrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("loopml_inference_requests", "Inference requests",
                                ["model", "version", "protocol", "status"], registry=r)
        self.latency = Histogram("loopml_inference_request_duration_seconds",
                                 "Inference request latency, receipt to response",
                                 ["model", "version", "protocol"], buckets=_LATENCY, registry=r)
        self.batch_size = Histogram("loopml_inference_batch_size", "Rows per predict call",
                                    ["model"], buckets=_BATCH, registry=r)
        self.predict_time = Histogram("loopml_inference_predict_duration_seconds",
                                      "Time in the model per batch", ["model"],
                                      buckets=_LATENCY, registry=r)
        # livesum: a pod's queue is the sum over its live worker processes (the HPA target)
        self.queue_depth = Gauge("loopml_inference_queue_depth", "Requests waiting for a batch",
                                 ["model"], registry=r, multiprocess_mode="livesum")
        self.errors = Counter("loopml_inference_errors", "Failed inference requests by kind",
                              ["model", "kind"], registry=r)
        self.log_dropped = Counter("loopml_inference_log_dropped",
                                   "Inference log records dropped under overload", registry=r)
        from loopml._prometheus import add_process_metrics

        add_process_metrics(r)

    def on_batch(self, model: str, rows: int, seconds: float) -> None:
        self.batch_size.labels(model).observe(rows)
        self.predict_time.labels(model).observe(seconds)

    async def endpoint(self, _: Request) -> Response:
        from loopml._prometheus import exposition

        return Response(exposition(self.registry), media_type=CONTENT_TYPE_LATEST)
