"""Connector benchmark: a PostgreSQL table into Arrow through loopml's connector vs the raw
drivers, same table, same run.

    .venv/bin/python bench/connectors.py [--rows 1000000] [--dsn postgresql://postgres@127.0.0.1:5432/postgres]

The table (``loopml_bench_events``: bigint, double, text, timestamp) is created with
``generate_series`` and dropped afterwards. Contenders, each reading every row into a
pyarrow Table: loopml ``open_source(...?table=...).read_table()`` (ADBC when installed),
raw ADBC ``fetch_arrow_table``, and psycopg's binary COPY decoded row by row into Arrow
columns (what a hand-written loader does). Prints rows/s and loopml's share of the best raw
rate (the goal: >= 80%).
"""

from __future__ import annotations

import argparse
import time


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    n = fn()
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    import psycopg
    import pyarrow as pa

    from loopml.data.connectors import open_source

    with psycopg.connect(args.dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS loopml_bench_events")
        conn.execute("CREATE TABLE loopml_bench_events AS SELECT i::bigint AS id, "
                     "random() AS x, md5(i::text) AS s, now() + i * interval '1 second' AS t "
                     f"FROM generate_series(1, {args.rows}) AS i")
    try:
        def loopml() -> int:
            return open_source(f"{args.dsn}?table=loopml_bench_events").read_table().num_rows

        def adbc() -> int:
            import adbc_driver_postgresql.dbapi as dbapi

            with dbapi.connect(args.dsn) as c, c.cursor() as cur:
                cur.execute("SELECT * FROM loopml_bench_events")
                return int(cur.fetch_arrow_table().num_rows)

        def copy() -> int:
            cols: list[list[object]] = [[], [], [], []]
            with psycopg.connect(args.dsn) as c, c.cursor() as cur, cur.copy(
                    "COPY loopml_bench_events TO STDOUT (FORMAT BINARY)") as cp:
                cp.set_types(["bigint", "double precision", "text", "timestamptz"])
                for row in cp.rows():
                    for i, v in enumerate(row):
                        cols[i].append(v)
            return pa.table({str(i): pa.array(v) for i, v in enumerate(cols)}).num_rows

        # Best of 3 (loopml and ADBC alternate) on a shared machine; COPY once (slow).
        rates = {"psycopg COPY (raw)": _timed(copy), "adbc (raw)": 0.0, "loopml connector": 0.0}
        for _ in range(3):
            for name, fn in (("loopml connector", loopml), ("adbc (raw)", adbc)):
                rates[name] = max(rates[name], _timed(fn))
    finally:
        with psycopg.connect(args.dsn, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS loopml_bench_events")
    for name, r in rates.items():
        print(f"{name:22} {r:14,.0f} rows/s")
    best = max(v for k, v in rates.items() if "raw" in k)
    print(f"loopml / best raw driver: {rates['loopml connector'] / best:.0%} (shared machine)")


if __name__ == "__main__":
    main()
