"""Edge bundles: manifest and digests, refusals (architecture, tampering), serve.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from loopml.edge import BundleRefused, package, verify_bundle
from loopml.errors import InvalidParameterValue
from loopml.targets import probe, profile_from_dict
from tests.conftest import free_port


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory) -> tuple[Path, np.ndarray]:  # type: ignore[no-untyped-def]
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    from loopml.models import save_model
    from loopml.models.onnx_export import export_folder

    x, y = make_classification(200, 6, random_state=0)
    x = x.astype(np.float32)
    folder = tmp_path_factory.mktemp("m") / "clf"
    save_model(LogisticRegression().fit(x, y), folder, input_example=x[:3])
    assert export_folder(folder).converted
    return folder, x


def test_bundle_has_manifest_digests_and_pins(onnx_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, _ = onnx_model
    out = package(str(folder), probe("here"), tmp_path / "b")
    manifest = verify_bundle(out)
    assert manifest["arch"] == probe().hardware.cpu.arch and manifest["runtime"] == "onnxruntime"
    assert "model/model.onnx" in manifest["files"] and "serve.py" in manifest["files"]
    reqs = (out / "requirements.txt").read_text()
    assert "loopml==" in reqs and "onnxruntime==" in reqs
    tar = package(str(folder), probe("here"), tmp_path / "t", tarball=True)
    assert tar.name == "t.tar.gz" and tar.is_file()
    before = tar.read_bytes()
    with pytest.raises(InvalidParameterValue, match="exists"):  # as a folder would be
        package(str(folder), probe("here"), tmp_path / "t", tarball=True)
    assert tar.read_bytes() == before


def test_bundle_refusals(onnx_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, _ = onnx_model
    arm7 = profile_from_dict({"name": "pi-zero", "hardware": {"cpu": {"arch": "armv7l"}}})
    with pytest.raises(BundleRefused, match="armv7l.*no armv7l wheel"):
        package(str(folder), arm7, tmp_path / "x")
    nopy = profile_from_dict({"name": "phone", "software": {"os": "android", "python": None}})
    with pytest.raises(BundleRefused, match="no Python"):
        package(str(folder), nopy, tmp_path / "y")
    out = package(str(folder), probe("here"), tmp_path / "b")
    with pytest.raises(BundleRefused, match="built for x86_64, and this machine is aarch64"):
        verify_bundle(out, machine="aarch64")
    (out / "model" / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(BundleRefused, match="model/model.onnx is changed"):
        verify_bundle(out)


@pytest.mark.slow
def test_serve_py_serves_v2_and_invocations(onnx_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, x = onnx_model
    out = package(str(folder), probe("here"), tmp_path / "b")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(out / "serve.py"), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/v2/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        r = httpx.post(url + "/invocations", json={"inputs": x[:2].tolist()})
        assert r.status_code == 200 and len(r.json()["predictions"]) == 2
        body = {"inputs": [{"name": "input-0", "shape": [1, 6], "datatype": "FP32",
                            "data": x[0].tolist()}]}
        assert httpx.post(url + "/v2/models/model/infer", json=body).status_code == 200
        bad = httpx.post(url + "/invocations", json={"inputs": [[1.0, 2.0]]})
        assert bad.status_code == 400  # the signature check
        assert "loopml" in httpx.get(url + "/metrics").text
    finally:
        proc.terminate()
        proc.wait(10)


def test_serve_py_refuses_a_tampered_bundle(onnx_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, _ = onnx_model
    out = package(str(folder), probe("here"), tmp_path / "b")
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["files"]["model/model.onnx"] = "0" * 64
    (out / "manifest.json").write_text(json.dumps(manifest))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    r = subprocess.run([sys.executable, str(out / "serve.py")], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "sha256 mismatch" in r.stderr


def test_invocations_wrong_width_on_a_tensor_signature_is_bad_input(onnx_model) -> None:  # type: ignore[no-untyped-def]
    """Regression: the width was unchecked and ONNX Runtime's error became a 500."""
    from loopml.serving.codec import BadInput
    from loopml.serving.runtime import ServedModel

    folder, x = onnx_model
    served = ServedModel("m", str(folder))
    assert served.predict_rows(served.rows_from_any(x[:2].tolist())).shape[0] == 2
    with pytest.raises(BadInput, match="Expected 6 values per row, got 2"):
        served.rows_from_any([[1.0, 2.0]])


def test_cli_package_refuses_another_arch_with_exit_2(onnx_model, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    folder, _ = onnx_model
    prof = tmp_path / "pi.yaml"
    prof.write_text("name: pi-zero\nhardware: {cpu: {arch: armv7l}}\n")
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / "home"), "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([sys.executable, "-m", "loopml", "edge", "package", str(folder),
                        "--target", str(prof), "--out", str(tmp_path / "b")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "no armv7l wheel" in r.stderr
    r = subprocess.run([sys.executable, "-m", "loopml", "edge", "package", str(folder),
                        "--target", str(prof).replace("pi", "nope"), "--out", str(tmp_path / "c")],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "No target profile" in r.stderr
