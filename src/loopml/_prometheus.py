"""Prometheus exposition shared by ``loopml server`` and ``loopml serve``: process metrics
(CPU seconds, resident and virtual memory, open file descriptors, start time) and, with
``--workers N``, one view aggregated over every process instead of one worker's numbers.

Multiprocess mode is prometheus_client's (docs: "Multiprocess Mode (E.g. Gunicorn)"): each
process writes its counters, gauges and histograms to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` and a scrape, answered by any worker, merges the files. loopml
manages that folder: ``setup_multiprocess`` (the CLI, before the workers start and before
any metric exists) makes a fresh one and removes it at exit. Process metrics are not in
those files, so ``ProcessGroupCollector`` reads /proc for every live process of the server
(each registers a marker file ``pid_<pid>``) and sums them: a pod's CPU and memory, which
is what its limits and the HPA's CPU target count.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_MARKER = "pid_"


def multiprocess_dir() -> str | None:
    """The folder of multiprocess mode, None when metrics are per process."""
    return os.environ.get(MULTIPROC_ENV) or None


def setup_multiprocess(workers: int) -> Callable[[], None]:
    """For ``workers > 1``: a fresh ``PROMETHEUS_MULTIPROC_DIR`` (unless the operator set
    one), the calling (supervisor) process registered in it. Call before prometheus_client
    creates any metric in this process. Returns the clean-up (also run at exit)."""
    if workers <= 1 and not multiprocess_dir():
        return lambda: None
    made = None
    if not multiprocess_dir():
        made = tempfile.mkdtemp(prefix="loopml-metrics-")
        os.environ[MULTIPROC_ENV] = made
    register_process()

    def cleanup() -> None:
        mark_dead(os.getpid())
        if made:
            shutil.rmtree(made, ignore_errors=True)
            if os.environ.get(MULTIPROC_ENV) == made:
                del os.environ[MULTIPROC_ENV]
    atexit.register(cleanup)
    return cleanup


def register_process() -> None:
    """Mark this process as one of the server's (its CPU and memory join the sums)."""
    d = multiprocess_dir()
    if d:
        Path(d, f"{_MARKER}{os.getpid()}").touch()


def mark_dead(pid: int) -> None:
    """A process that exits drops out of live gauges and process sums (its counters stay:
    they only go up)."""
    d = multiprocess_dir()
    if not d:
        return
    from prometheus_client import multiprocess

    with contextlib.suppress(OSError):
        multiprocess.mark_process_dead(pid, d)
        Path(d, f"{_MARKER}{pid}").unlink(missing_ok=True)


def _const(pid: int) -> Callable[[], int]:
    return lambda: pid


def _live_pids(folder: str) -> list[int]:
    pids = []
    for p in Path(folder).glob(f"{_MARKER}*"):
        with contextlib.suppress(ValueError):
            pid = int(p.name[len(_MARKER):])
            if Path(f"/proc/{pid}").exists():
                pids.append(pid)
    return sorted(pids)


class ProcessGroupCollector(Collector):
    """prometheus_client's process metrics summed over the live processes registered in
    ``folder`` (start time: the oldest; max fds: the largest), plus ``loopml_processes``."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def collect(self) -> Iterator[Metric]:
        from prometheus_client import ProcessCollector

        pids = _live_pids(self.folder)
        families: dict[str, Metric] = {}
        for pid in pids:
            for fam in ProcessCollector(pid=_const(pid), registry=None).collect():
                have = families.get(fam.name)
                if have is None:
                    families[fam.name] = fam
                    continue
                for i, theirs in enumerate(fam.samples[:len(have.samples)]):
                    mine = have.samples[i]
                    if fam.name.endswith("start_time_seconds"):
                        value = min(mine.value, theirs.value)
                    elif fam.name.endswith("max_fds"):
                        value = max(mine.value, theirs.value)
                    else:
                        value = mine.value + theirs.value
                    have.samples[i] = mine._replace(value=value)
        yield from families.values()
        g = GaugeMetricFamily("loopml_processes", "Processes of this server (supervisor and "
                              "workers) whose metrics are aggregated")
        g.add_metric([], len(pids))
        yield g


def add_process_metrics(registry: CollectorRegistry) -> None:
    """Per-process mode: this process's CPU, memory and fds, and ``loopml_processes`` 1."""
    from prometheus_client import PlatformCollector, ProcessCollector

    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(_OneProcess())


class _OneProcess(Collector):
    def collect(self) -> Iterator[Metric]:
        g = GaugeMetricFamily("loopml_processes", "Processes of this server (supervisor and "
                              "workers) whose metrics are aggregated")
        g.add_metric([], 1)
        yield g


def exposition(registry: CollectorRegistry, extra: Iterable[Collector] = ()) -> bytes:
    """The text format of ``registry`` or, in multiprocess mode, of every process's metrics
    merged, the processes' CPU and memory summed, and the ``extra`` collectors (values read
    at scrape time, the same whichever worker answers)."""
    d = multiprocess_dir()
    if not d:
        return generate_latest(registry)
    from prometheus_client import PlatformCollector, multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=d)
    merged.register(ProcessGroupCollector(d))
    PlatformCollector(registry=merged)
    for c in extra:
        merged.register(c)
    return generate_latest(merged)
