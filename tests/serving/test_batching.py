"""Adaptive batching, isolation of bad requests, bounded queue, and the inference log."""

from __future__ import annotations

import asyncio
import time

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from loopml.inference_log import InferenceLogWriter
from loopml.serving.batcher import Batcher, Overloaded
from tests.serving.conftest import Served


def _run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_concurrent_requests_share_a_batch() -> None:
    sizes: list[int] = []

    def predict(rows: np.ndarray) -> np.ndarray:
        time.sleep(0.005)  # a slow model: requests pile up while it runs
        return rows.sum(axis=1)

    async def main() -> list[np.ndarray]:
        b = Batcher(predict, max_batch_size=64, max_delay_s=0.002,
                    on_batch=lambda n, dt: sizes.append(n))
        outs = await asyncio.gather(*(b.submit(np.full((1, 3), i, float)) for i in range(40)))
        await b.stop()
        return outs

    outs = _run(main())
    assert [float(o[0]) for o in outs] == [3.0 * i for i in range(40)]  # each gets its own rows
    assert max(sizes) > 1 and sum(sizes) == 40


def test_lone_request_is_not_delayed() -> None:
    async def main() -> float:
        b = Batcher(lambda r: r[:, 0], max_batch_size=64, max_delay_s=0.5)
        t = time.perf_counter()
        await b.submit(np.ones((1, 2)))
        dt = time.perf_counter() - t
        await b.stop()
        return dt

    assert _run(main()) < 0.1  # not the 0.5 s delay


def test_one_bad_request_fails_alone() -> None:
    def predict(rows: np.ndarray) -> np.ndarray:
        if np.isnan(rows).any():
            raise ValueError("NaN in input")
        time.sleep(0.002)
        return rows[:, 0]

    async def main() -> list[object]:
        b = Batcher(predict, max_batch_size=64)
        reqs = [np.full((1, 2), float(i)) for i in range(10)]
        reqs[4] = np.full((1, 2), np.nan)
        res = await asyncio.gather(*(b.submit(r) for r in reqs), return_exceptions=True)
        await b.stop()
        return res

    res = _run(main())
    assert isinstance(res[4], ValueError)
    assert [float(r[0]) for i, r in enumerate(res) if i != 4] == [float(i) for i in range(10) if i != 4]


def test_full_queue_is_refused_fast() -> None:
    def slow(rows: np.ndarray) -> np.ndarray:
        time.sleep(0.3)
        return rows[:, 0]

    async def main() -> tuple[int, float]:
        b = Batcher(slow, max_batch_size=1, max_queue=4)
        tasks = [asyncio.create_task(b.submit(np.ones((1, 1)))) for _ in range(6)]
        await asyncio.sleep(0.01)
        while b.depth < b.max_queue:  # the worker is busy for 0.3 s: fill the queue
            tasks.append(asyncio.create_task(b.submit(np.ones((1, 1)))))
            await asyncio.sleep(0)
        t = time.perf_counter()
        with pytest.raises(Overloaded):
            await b.submit(np.ones((1, 1)))
        refused_in = time.perf_counter() - t
        res = await asyncio.gather(*tasks, return_exceptions=True)
        await b.stop()
        return sum(isinstance(r, Overloaded) for r in res), refused_in

    overloaded, refused_in = _run(main())
    assert refused_in < 0.1 and overloaded >= 1


def test_overload_is_503_with_retry_after(model_dirs, tmp_path, cancer) -> None:
    from tests.serving.conftest import start

    x, _, _ = cancer
    s = start({"hgb": str(model_dirs["hgb"])}, tmp_path, max_queue=1, max_batch_size=1)
    try:
        body = {"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64",
                            "data": x[0].tolist()}]}

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=s.url, timeout=30) as c:
                return await asyncio.gather(*(c.post("/v2/models/hgb/infer", json=body)
                                              for _ in range(64)))

        rs = _run(burst())
        codes = {r.status_code for r in rs}
        assert codes <= {200, 503} and 503 in codes and 200 in codes
        busy = next(r for r in rs if r.status_code == 503)
        assert busy.headers["Retry-After"] == "1" and "queue is full" in busy.json()["error"]
    finally:
        s.stop()


def test_inference_log_parquet(served: Served, cancer) -> None:
    x, _, _ = cancer
    ids = []
    for i in range(5):
        r = httpx.post(f"{served.url}/v2/models/hgb_onnx/infer", json={"inputs": [
            {"name": "input-0", "shape": [1, 30], "datatype": "FP64", "data": x[i].tolist()}]})
        ids.append(r.headers["x-request-id"])
    served.app.state.serving.logger.flush()  # type: ignore[attr-defined]
    files = list(served.log_dir.glob("deployment=default/date=*/part-*.parquet"))
    assert files and not list(served.log_dir.rglob("*.tmp"))
    table = pq.ParquetDataset(served.log_dir).read().to_pandas()
    logged = table[table.request_id.isin(ids)]
    assert len(logged) == 5 and set(logged.model) == {"hgb_onnx"}
    assert (logged.latency_ms > 0).all()
    # inputs are typed columns (f0..f29 of one row), not JSON text
    first = logged[logged.request_id == ids[0]].inputs.iloc[0]
    assert len(first) == 30 and list(first["f0"]) == [x[0][0]]


def test_log_drops_instead_of_blocking(tmp_path) -> None:
    dropped: list[int] = []
    lg = InferenceLogWriter(tmp_path, capacity=3, flush_ms=60_000, on_drop=dropped.append)
    for i in range(10):
        lg.record("d", str(i), "m", "1", [1.0], [0], 1.0)
    assert lg.dropped == 7 and sum(dropped) == 7
    lg.close()
    assert lg.written == 3


def test_lone_quick_predicts_run_inline_and_threads_are_limited() -> None:
    import threading

    from threadpoolctl import threadpool_info

    from loopml.serving.runtime import limit_native_threads

    where: list[str] = []
    omp: list[int] = []

    def predict(rows: np.ndarray) -> np.ndarray:
        where.append(threading.current_thread().name)
        omp.extend(i["num_threads"] for i in threadpool_info() if i["internal_api"] == "openmp")
        return rows[:, 0]

    async def main() -> None:
        # a generous threshold: on a loaded machine the first predict can take well over 10 ms
        b = Batcher(predict, thread_init=limit_native_threads, inline_below_s=1.0)
        for _ in range(3):  # the first runs on the worker thread, then quick ones inline
            await b.submit(np.ones((1, 2)))
        await b.stop()

    _run(main())
    assert where[0].startswith("predict") and where[1] == where[2] == "MainThread"
    assert set(omp) <= {1}  # OpenMP limited in both threads (when sklearn's is loaded)
