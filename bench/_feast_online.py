"""The Feast side of bench/online_store.py, run by the Feast venv's Python (Feast's pins
differ from loopml's; see bench/online_store.py). Prints one JSON line of timings.

    /work/venvs/feast/bin/python bench/_feast_online.py --entities 10000 --reads 2000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entities", type=int, default=10_000)
    ap.add_argument("--reads", type=int, default=2000)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--redis", default="127.0.0.1:6379")
    a = ap.parse_args()
    import pandas as pd
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource
    from feast.types import Float64
    from feast.value_type import ValueType

    project = f"loopml_bench_{os.getpid()}"
    repo = tempfile.mkdtemp(prefix="feast-bench-")
    with open(os.path.join(repo, "feature_store.yaml"), "w") as f:
        f.write(f"project: {project}\nregistry: {repo}/registry.db\nprovider: local\n"
                f"online_store:\n  type: redis\n  connection_string: \"{a.redis}\"\n"
                "entity_key_serialization_version: 3\n")
    names = [f"f{i}" for i in range(a.features)]
    now = datetime.now(UTC)
    keys = [f"m{i}" for i in range(a.entities)]
    df = pd.DataFrame({"machine": keys, "event_timestamp": [now] * a.entities,
                       **{n: [random.random() for _ in keys] for n in names}})
    df.to_parquet(os.path.join(repo, "stats.parquet"))
    machine = Entity(name="machine", join_keys=["machine"], value_type=ValueType.STRING)
    view = FeatureView(name="stats", entities=[machine], ttl=timedelta(days=1),
                       schema=[Field(name=n, dtype=Float64) for n in names],
                       source=FileSource(path=os.path.join(repo, "stats.parquet"),
                                         timestamp_field="event_timestamp"))
    store = FeatureStore(repo_path=repo)
    store.apply([machine, view])
    t0 = time.perf_counter()
    store.write_to_online_store("stats", df)
    upsert_s = time.perf_counter() - t0
    refs = [f"stats:{n}" for n in names]
    out = {"upserts_per_s": a.entities / upsert_s}
    try:
        for k in (1, 32):
            lat = []
            for _ in range(a.reads):
                rows = [{"machine": random.choice(keys)} for _ in range(k)]
                t = time.perf_counter()
                store.get_online_features(features=refs, entity_rows=rows).to_dict()
                lat.append((time.perf_counter() - t) * 1000)
            lat.sort()
            out[f"read{k}_p50_ms"] = statistics.median(lat)
            out[f"read{k}_p99_ms"] = lat[int(len(lat) * 0.99) - 1]
    finally:
        store.teardown()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
