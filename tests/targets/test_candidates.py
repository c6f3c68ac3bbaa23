"""Candidate variants: built cells, pruned cells with reasons, calibration checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from loopml.errors import InvalidParameterValue
from loopml.models._load import load_folder
from loopml.targets import probe, profile_from_dict
from loopml.targets.candidates import build_candidates


def _by_name(cands):  # type: ignore[no-untyped-def]
    return {c.name: c for c in cands}


def test_tabular_cells(logreg_folder: Path, tabular, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x, _ = tabular
    cands = _by_name(build_candidates(load_folder(logreg_folder), probe(), x[300:], tmp_path))
    assert cands["native"].status == "ok" and cands["native"].size_bytes > 0
    assert cands["onnx-fp32"].status == "ok" and "skl2onnx" in cands["onnx-fp32"].recipe["converter"]
    assert cands["onnx-opt"].status == "ok" and Path(cands["onnx-opt"].path or "").is_file()
    # linear ai.onnx.ml ops: nothing to quantise, pruned with the reason
    assert cands["int8-static"].status == "pruned" and "quantise" in cands["int8-static"].reason


def test_int8_cells_for_a_network(mlp_folder: Path, tabular, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x, _ = tabular
    cands = _by_name(build_candidates(load_folder(mlp_folder, trust=True), probe(), x[300:],
                                      tmp_path))
    assert cands["int8-static"].status == "ok"
    assert cands["int8-static-rr"].recipe["reduce_range"] is True
    assert cands["int8-dynamic"].status == "ok"  # MatMul/Gemm, no Conv


def test_failing_converter_is_a_pruned_cell(logreg_folder: Path, tabular, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import loopml.models.onnx_export as ox

    def broken(model, x):  # type: ignore[no-untyped-def]
        raise ValueError("Unable to create node 'TreeEnsembleClassifier'")

    monkeypatch.setattr(ox, "_convert", broken)
    x, _ = tabular
    cands = build_candidates(load_folder(logreg_folder), probe(), x[300:], tmp_path)
    assert [c.name for c in cands] == ["native", "onnx-fp32"]
    assert cands[1].status == "pruned" and "TreeEnsembleClassifier" in cands[1].reason


def test_runtime_not_allowed_is_pruned(logreg_folder: Path, tabular, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x, _ = tabular
    p = profile_from_dict({"name": "n", "software": {"runtimes_allowed": ["native"]}})
    cands = build_candidates(load_folder(logreg_folder), p, x[300:], tmp_path)
    assert cands[1].status == "pruned" and "not allowed" in cands[1].reason


def test_calibration_set_must_match_the_signature(logreg_folder: Path, tabular,
                                                   tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    x, _ = tabular
    with pytest.raises(InvalidParameterValue, match="calibration set does not match"):
        build_candidates(load_folder(logreg_folder), probe(), x[300:], tmp_path,
                         calibration=np.zeros((4, 3), dtype=np.float32))


def test_flavor_without_converter_is_a_pruned_cell(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from loopml.targets.candidates import _onnx_fp32

    model = SimpleNamespace(flavor=SimpleNamespace(name="python_function"), native=object())
    c = _onnx_fp32(model, np.zeros((2, 3), np.float32), tmp_path)  # type: ignore[arg-type]
    assert c.status == "pruned" and "no ONNX converter for the 'python_function' flavor" in c.reason
