"""Prometheus metrics of a stream worker, in the worker's own registry (no process-wide
state), served by ``prometheus_client``'s HTTP server when the app file asks for a port.

=====================================  =========  ===================================
name                                   type       labels
=====================================  =========  ===================================
loopml_stream_events_in_total          counter    app, source
loopml_stream_rows_out_total           counter    app, stream (a rule's output or sink)
loopml_stream_lag                      gauge      app, source (messages not yet delivered)
loopml_stream_in_flight                gauge      app, source (batches read, not acked)
loopml_stream_batch_seconds            histogram  app (read -> acked, per batch)
loopml_stream_dropped_total            counter    app, source, reason (shed_oldest, sample, broker_full)
loopml_stream_late_total               counter    app
loopml_stream_dead_letter_total        counter    app, source
loopml_stream_claimed_total            counter    app, source (taken over from dead workers)
=====================================  =========  ===================================
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class StreamMetrics:
    def __init__(self, app: str, registry: CollectorRegistry | None = None) -> None:
        self.app = app
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter("loopml_stream_events_in", "Events read", ["app", "source"], registry=r)
        self.rows_out = Counter("loopml_stream_rows_out", "Rows produced per rule output or sink",
                                ["app", "stream"], registry=r)
        self.lag = Gauge("loopml_stream_lag", "Messages not yet delivered to the group", ["app", "source"], registry=r)
        self.in_flight = Gauge("loopml_stream_in_flight", "Batches read and not yet acked", ["app", "source"], registry=r)
        self.batch_seconds = Histogram("loopml_stream_batch_seconds", "Batch time from read to ack", ["app"],
                                       buckets=(.001, .0025, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5),
                                       registry=r)
        self.dropped = Counter("loopml_stream_dropped", "Events dropped by the overflow policy",
                               ["app", "source", "reason"], registry=r)
        self.late = Counter("loopml_stream_late", "Events behind the watermark", ["app"], registry=r)
        self.dead_letter = Counter("loopml_stream_dead_letter", "Messages or rows sent to the dead-letter sink",
                                   ["app", "source"], registry=r)
        self.claimed = Counter("loopml_stream_claimed", "Messages taken over from dead workers",
                               ["app", "source"], registry=r)

    def serve(self, port: int, host: str = "127.0.0.1") -> int:
        """Serve /metrics on ``host:port`` (0: a free port); the port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return int(server.server_port)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when absent), for tests and ``status``."""
        v = self.registry.get_sample_value(name, {"app": self.app, **labels})
        return float(v or 0.0)


__all__ = ["StreamMetrics"]
