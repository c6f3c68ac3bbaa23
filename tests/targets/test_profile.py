"""Target profiles: validation, probing this host, versioned storage, the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from loopml.errors import InvalidConfig, ResourceDoesNotExist
from loopml.targets import ProfileStore, probe, profile_from_dict
from loopml.targets.profile import host_isa, is_this_host, usable_cores


def test_probe_describes_this_host() -> None:
    p = probe("here", budget_ms=5, peak_memory_mb=300)
    assert p.hardware.cpu.cores == usable_cores() == len(os.sched_getaffinity(0))
    assert p.hardware.cpu.isa == host_isa()
    assert p.hardware.memory_mb and p.hardware.memory_mb > 0
    assert p.slo.latency is not None and p.slo.latency.budget_ms == 5
    assert is_this_host(p)


def test_isa_flags_from_cpuinfo_text() -> None:
    text = "processor: 0\nflags\t: fpu sse4_2 avx2 fma avx512_vnni\n"
    assert host_isa(text) == ["sse4_2", "avx2", "fma", "avx512_vnni"]
    assert host_isa("Features : fp asimd asimddp\n") == ["asimd", "asimddp"]


@pytest.mark.parametrize(("body", "key"), [
    ({"name": "x", "hardware": {"cpu": {"cores": 0}}}, "hardware.cpu.cores"),
    ({"name": "x", "slo": {"latency": {"budget_ms": -1}}}, "slo.latency.budget_ms"),
    ({"name": "x", "slo": {"peak_memory_mb": -5}}, "slo.peak_memory_mb"),
    ({"name": "x", "software": {"runtimes_allowed": ["onnxruntme"]}}, "did you mean 'onnxruntime'"),
    ({"name": "x", "hardware": {"cpu": {"arch": "sparc"}}}, "hardware.cpu.arch"),
    ({"name": "x", "slo": {"latncy": {}}}, "did you mean 'latency'"),
    ({"name": "bad name"}, "name"),
    ({"name": "x", "hardware": {"memory_mb": float("inf")}}, "hardware.memory_mb"),
    ({"name": "x", "slo": {"peak_memory_mb": float("nan")}}, "slo.peak_memory_mb"),
])
def test_impossible_profiles_name_the_field(body: dict, key: str) -> None:
    with pytest.raises(InvalidConfig, match=key.replace(".", r"\.").replace("(", r"\(")):
        profile_from_dict(body)


def test_store_versions_profiles(embedded_home: Path) -> None:
    store = ProfileStore()
    p1 = profile_from_dict({"name": "edge", "hardware": {"cpu": {"cores": 1}}})
    p2 = profile_from_dict({"name": "edge", "hardware": {"cpu": {"cores": 2}}})
    assert store.create(p1) == 1
    assert store.create(p2) == 2
    assert store.get("edge")[0].hardware.cpu.cores == 2
    assert store.get("edge@1")[0].hardware.cpu.cores == 1
    assert store.list() == [{"name": "edge", "latest": 2, "versions": 2}]
    with pytest.raises(ResourceDoesNotExist, match="did you mean 'edge'"):
        store.get("edg")
    # An empty or malformed name is bad input, not "the newest profile of any name".
    for bad in ("", "@1", "a'b"):
        with pytest.raises(ResourceDoesNotExist, match="NAME or NAME@VERSION"):
            store.get(bad)


def _cli(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LOOPML_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    env.pop("LOOPML_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", "loopml", "target", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def test_cli_create_probe_list_show(tmp_path: Path) -> None:
    home = tmp_path / "home"
    good = tmp_path / "p.yaml"
    good.write_text("name: edge-1c\nhardware: {cpu: {cores: 1}}\n"
                    "slo: {latency: {budget_ms: 2.5}}\n")
    r = _cli(["create", "-f", str(good)], home)
    assert r.returncode == 0, r.stderr
    assert "edge-1c version 1" in r.stdout
    r = _cli(["probe", "--name", "me", "--budget-ms", "4", "--save"], home)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["slo"]["latency"]["budget_ms"] == 4
    r = _cli(["list"], home)
    assert "edge-1c\tv1" in r.stdout and "me\tv1" in r.stdout
    r = _cli(["show", "edge-1c@1"], home)
    assert json.loads(r.stdout)["hardware"]["cpu"]["cores"] == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhardware: {cpu: {cores: 0}}\nslo: {latency: {budget_ms: -2}}\n")
    r = _cli(["create", "-f", str(bad)], home)
    assert r.returncode == 2
    assert "hardware.cpu.cores" in r.stderr and "slo.latency.budget_ms" in r.stderr
    r = _cli(["probe", "--cores", "0"], home)
    assert r.returncode == 2 and "cores" in r.stderr


def test_rest_routes_store_profiles_and_refuse_bad_ones(tmp_path: Path) -> None:
    import httpx

    from tests.server.conftest import start_server

    srv = start_server(tmp_path / "srv")
    try:
        base = srv.url + "/api/loopml/v1/targets"
        r = httpx.post(base + "/create", json={"profile": {"name": "edge",
                                                           "hardware": {"cpu": {"cores": 1}}}})
        assert r.status_code == 200 and r.json() == {"name": "edge", "version": 1}
        assert httpx.get(base).json()["targets"][0]["name"] == "edge"
        assert httpx.get(base + "/edge").json()["profile"]["hardware"]["cpu"]["cores"] == 1
        bad = httpx.post(base + "/create", json={"profile": {
            "name": "x", "hardware": {"cpu": {"cores": 0}}, "slo": {"peak_memory_mb": -1}}})
        assert bad.status_code == 400
        assert "hardware.cpu.cores" in bad.json()["message"]
        assert "slo.peak_memory_mb" in bad.json()["message"]
        assert httpx.get(base + "/nope").status_code == 404
        # through a remote store too: the same ProfileStore over REST
        from loopml.tracking._client import TrackingClient

        assert ProfileStore(TrackingClient(srv.url)).get("edge")[1] == 1
    finally:
        srv.stop()
