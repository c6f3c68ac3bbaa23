from __future__ import annotations

import subprocess
import sys

from loopml.entities import Metric
from loopml.store.sql import SqlStore
from loopml.tracking import TrackingClient
from loopml.tracking._gc import blob_resolver, collect_garbage


def test_gc_removes_artifacts_then_rows(tmp_path):
    root = tmp_path / "artifacts"
    store = SqlStore(f"sqlite:///{tmp_path / 'db'}", str(root))
    client = TrackingClient(store=store)
    eid = store.create_experiment("gc")
    keep = store.create_run(eid).info.run_id
    gone = store.create_run(eid).info.run_id
    f = tmp_path / "f.txt"
    f.write_text("x")
    for rid in (keep, gone):
        client.log_artifact(rid, f)
        store.log_metric(rid, Metric("m", 1.0, 1, 0))
    store.delete_run(gone)
    purged = collect_garbage(store, blob_resolver(str(root)))
    assert purged == [gone]
    assert not (root / eid / gone).exists() or not any((root / eid / gone).rglob("*.txt"))
    assert (root / eid / keep / "artifacts" / "f.txt").exists()
    assert store.list_deleted_run_ids() == []


def test_gc_cli(tmp_path):
    db = f"sqlite:///{tmp_path / 'db'}"
    store = SqlStore(db, str(tmp_path / "a"))
    rid = store.create_run("0").info.run_id
    store.delete_run(rid)
    out = subprocess.run(
        [sys.executable, "-m", "loopml", "gc", "--backend-store-uri", db,
         "--artifacts-destination", str(tmp_path / "a")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "Purged 1 run(s)" in out.stdout and rid in out.stdout
    bad = subprocess.run([sys.executable, "-m", "loopml", "gc", "--older-than", "soon"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "30d" in bad.stderr
