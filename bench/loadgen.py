"""A lean HTTP/1.1 load generator: N keep-alive connections, each sending one pre-built
request after another for a fixed time, recording every latency.

Raw asyncio streams with uvloop: a few microseconds of client work per request, so on a
2-core machine the client takes as little as possible from the server it measures.

    python bench/loadgen.py URL BODY_FILE --concurrency 32 --seconds 10
prints JSON: {"requests", "errors", "rps", "p50_ms", "p99_ms", "status"}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from urllib.parse import urlsplit


async def worker(host: str, port: int, request: bytes, until: float,
                 lat: list[float], status: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < until:
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            code = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
                    break
            if length:
                await reader.readexactly(length)
            lat.append(time.perf_counter() - t)
            status[code] = status.get(code, 0) + 1
    finally:
        writer.close()


async def run(url: str, body: bytes, concurrency: int, seconds: float,
              content_type: str) -> dict[str, object]:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    request = (f"POST {u.path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
               ).encode() + body
    lat: list[float] = []
    status: dict[int, int] = {}
    start = time.perf_counter()
    until = start + seconds
    await asyncio.gather(*(worker(host, port, request, until, lat, status)
                           for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    lat.sort()
    ok = status.get(200, 0)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {"requests": len(lat), "ok": ok, "errors": len(lat) - ok, "rps": ok / elapsed,
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "status": status}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("body")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--content-type", default="application/json")
    args = ap.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    out = asyncio.run(run(args.url, Path(args.body).read_bytes(), args.concurrency,
                          args.seconds, args.content_type))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
