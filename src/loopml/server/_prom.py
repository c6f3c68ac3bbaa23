"""Prometheus metrics of the control plane: the HTTP layer on a registry owned by the app (no
globals), as a pure ASGI middleware so it adds microseconds, not a BaseHTTPMiddleware task
per request; process CPU and memory (summed over ``--workers`` processes, see
loopml._prometheus); and, read from the store at scrape time, the monitors' latest window
metrics, the alert rules' states and the closed loops' states and actions."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loopml._prometheus import add_process_metrics, exposition

if TYPE_CHECKING:
    from loopml.server.services import Services

_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
log = logging.getLogger("loopml.server")
_WEEK_MS = 7 * 86_400_000


class HttpMetrics:
    def __init__(self, services: Services | None = None) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "loopml_http_requests", "HTTP requests handled", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "loopml_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            buckets=_BUCKETS, registry=self.registry,
        )
        add_process_metrics(self.registry)
        self.extra: list[Collector] = []
        if services is not None:
            self.extra.append(StoreCollector(services))
            self.registry.register(self.extra[0])

    async def endpoint(self, _: Request) -> Response:
        import anyio

        body = await anyio.to_thread.run_sync(exposition, self.registry, self.extra)
        return Response(body, media_type=CONTENT_TYPE_LATEST)


class StoreCollector(Collector):
    """Gauges and counters whose truth is the metadata store, so every replica and worker
    reports the same values whichever process computed them:

    - ``loopml_monitor_metric{monitor,metric}``: the latest window's metrics of each monitor
      this server runs (``drift.share_drifted``, ``quality.accuracy``, ``latency.p99_ms``...)
    - ``loopml_monitor_window_end_seconds{monitor}``: the end of that window
    - ``loopml_alert_firing{monitor,rule,subject}``: 1 while the rule fires, else 0
    - ``loopml_loops{state}``: loops by state (the newest 1000)
    - ``loopml_loop_actions_total{action}``: audit lines of the loops (state changes,
      approvals, ...), counted incrementally from the audit log
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self._lock = threading.Lock()
        self._seq = 0
        self._actions: Tally[str] = Tally()

    def describe(self) -> list[Metric]:
        return []  # values come from the store at scrape time only

    def collect(self) -> Iterator[Metric]:
        from loopml.security.workspaces import ALL_WORKSPACES, use_workspace

        with use_workspace(ALL_WORKSPACES):
            try:
                yield from self._monitors()
                yield from self._loops()
            except Exception as e:  # a scrape must not fail because the store hiccups
                log.warning("metrics from the store skipped: %s: %s", type(e).__name__, e)

    def _monitors(self) -> Iterator[Metric]:
        s = self.services
        value = GaugeMetricFamily("loopml_monitor_metric", "Latest window's metric of a "
                                  "monitor", labels=["monitor", "metric"])
        end = GaugeMetricFamily("loopml_monitor_window_end_seconds", "End of the monitor's "
                                "latest window", labels=["monitor"])
        firing = GaugeMetricFamily("loopml_alert_firing", "1 while the alert rule fires",
                                   labels=["monitor", "rule", "subject"])
        for spec in s.monitor_specs:
            name = spec.name
            last = s.monitoring.last_window_end(name)
            if last:
                results = s.monitoring.results(name, since=max(0, last - _WEEK_MS))
                if results:
                    r = results[-1]
                    for metric, v in sorted(r.metrics.items()):
                        if isinstance(v, int | float) and not isinstance(v, bool):
                            value.add_metric([name, metric], float(v))
                    end.add_metric([name], r.window_end / 1000)
            for (rule, subject), st in sorted(s.monitoring.alert_states(name).items()):
                firing.add_metric([name, rule, subject], 1.0 if st.firing else 0.0)
        yield from (value, end, firing)

    def _loops(self) -> Iterator[Metric]:
        loops = self.services.loops
        states = Tally(loop.state for loop in loops.list_loops(limit=1000))
        g = GaugeMetricFamily("loopml_loops", "Closed loops by state (the newest 1000)",
                              labels=["state"])
        for state, n in sorted(states.items()):
            g.add_metric([state], n)
        with self._lock:  # one pass reads only the audit lines added since the last
            while True:
                page = loops.history(after_seq=self._seq, limit=1000)
                for a in page:
                    self._actions[a.action] += 1
                    self._seq = max(self._seq, a.seq)
                if len(page) < 1000:
                    break
            actions = dict(self._actions)
        c = CounterMetricFamily("loopml_loop_actions", "Loop audit lines by action (state "
                                "changes, approvals, ...)", labels=["action"])
        for action, n in sorted(actions.items()):
            c.add_metric([action], n)
        yield from (g, c)


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            # The route template (not the raw path) keeps label cardinality bounded.
            name = getattr(route, "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, name, str(status)).inc()
            self.metrics.latency.labels(method, name).observe(time.perf_counter() - start)
