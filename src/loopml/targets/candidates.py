"""Candidate variants of one model: the cells of the runtime x precision matrix
(research ``target-aware.md`` §3.2) that can be built for a profile.

Cells, in order:

- ``native``: the model as saved (sklearn / LightGBM / XGBoost / PyTorch predict);
- ``onnx-fp32``: skl2onnx, onnxmltools or torch.onnx, run by ONNX Runtime;
- ``onnx-opt``: the fp32 graph after ONNX Runtime's extended graph optimisations, saved to
  a file (``optimized_model_filepath``) so that the saved artifact is what gets measured;
- ``int8-static`` / ``int8-static-rr``: static QDQ INT8 (u8 activations, s8 per-channel
  weights) calibrated on the caller's rows, without and with ``reduce_range`` (7-bit weights,
  which keeps accuracy on CPUs without VNNI);
- ``int8-dynamic``: dynamic INT8, only for graphs of MatMul/Gemm without convolutions
  (on conv nets it takes the ConvInteger path, measured 4-5x slower, research §2.3).

A cell that cannot be built is *pruned* with the reason recorded (a converter that fails,
a graph with nothing to quantise, a runtime the profile does not allow); it never crashes
the job. A calibration set that does not match the model's signature raises
``InvalidParameterValue`` naming the mismatch.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from loopml.errors import InvalidParameterValue
from loopml.models._load import Model
from loopml.targets.profile import TargetProfile

log = logging.getLogger("loopml.targets")
_QUANTISABLE = {"Conv", "MatMul", "Gemm"}


@dataclass
class Candidate:
    """One cell of the matrix. ``path``: the ONNX file (ONNX cells) or the model folder
    (native). ``status``: ``ok`` or ``pruned`` (then ``reason`` says why)."""

    name: str
    runtime: str  # native | onnxruntime
    precision: str  # fp32 | int8
    recipe: dict[str, Any] = field(default_factory=dict)
    path: str | None = None
    status: str = "ok"
    reason: str = ""
    deps: list[str] = field(default_factory=list)
    size_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _native_size(model: Model) -> int:
    """Bytes of the native model's own files (not the extra ONNX flavor or metadata)."""
    skip = {"MLmodel", "model.onnx", "conda.yaml", "python_env.yaml", "requirements.txt",
            "input_example.json"}
    return sum(p.stat().st_size for p in model.folder.rglob("*")
               if p.is_file() and p.name not in skip)


def check_calibration(model: Model, rows: Any) -> np.ndarray:
    """``rows`` as the float32 array ONNX is fed, after checking them against the model's
    signature. Raises ``InvalidParameterValue``: "The calibration set does not match ..."."""
    try:
        prepared = model.prepare(rows)
    except InvalidParameterValue as e:
        raise InvalidParameterValue(
            f"The calibration set does not match the model's signature: {e.message} "
            "Pass rows with the model's input columns (or tensor shape).") from None
    arr = prepared.to_numpy() if hasattr(prepared, "to_numpy") else np.asarray(prepared)
    if arr.dtype.kind not in "biuf":
        raise InvalidParameterValue(
            "The calibration set does not match the model's signature: its inputs are not all "
            f"numeric (dtype {arr.dtype}).")
    if len(arr) == 0:
        raise InvalidParameterValue("The calibration set is empty; pass at least one row.")
    return arr.astype(np.float32)


def _ops(path: Path) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}


def _onnx_fp32(model: Model, x: np.ndarray, work: Path) -> Candidate:
    from loopml.models.onnx_export import _convert, _Unsupported

    c = Candidate("onnx-fp32", "onnxruntime", "fp32", {"converter": ""}, deps=["onnxruntime"])
    try:
        onx, c.recipe["converter"] = _convert(model, x)
    except _Unsupported as e:
        c.status, c.reason = "pruned", f"conversion failed: {e}"
        return c
    except Exception as e:  # a converter bug is a pruned cell, never a crashed job
        c.status, c.reason = "pruned", f"conversion failed: {type(e).__name__}: {e}"
        return c
    path = work / "fp32.onnx"
    path.write_bytes(onx.SerializeToString())
    c.path, c.size_bytes = str(path), _size(path)
    return c


def _onnx_opt(src: Path, work: Path) -> Candidate:
    import onnxruntime as ort

    c = Candidate("onnx-opt", "onnxruntime", "fp32",
                  {"graph_optimization_level": "ORT_ENABLE_EXTENDED"}, deps=["onnxruntime"])
    out = work / "opt.onnx"
    opts = ort.SessionOptions()
    # EXTENDED, not ALL: the layout pass bakes in this CPU's kernels, the target's may differ.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    opts.optimized_model_filepath = str(out)
    opts.log_severity_level = 3
    try:
        ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
    except Exception as e:
        c.status, c.reason = "pruned", f"graph optimisation failed: {e}"
        return c
    c.path, c.size_bytes = str(out), _size(out)
    return c


class _Reader:
    """ONNX Runtime's CalibrationDataReader over the caller's rows, a batch at a time."""

    def __init__(self, name: str, x: np.ndarray, batch: int = 16) -> None:
        self.items = iter([{name: x[i:i + batch]} for i in range(0, len(x), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.items, None)


def _int8_static(src: Path, x: np.ndarray, work: Path, reduce_range: bool) -> Candidate:
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    name = "int8-static-rr" if reduce_range else "int8-static"
    recipe = {"format": "QDQ", "activations": "u8", "weights": "s8", "per_channel": True,
              "reduce_range": reduce_range, "calibration": "MinMax",
              "calibration_rows": int(len(x))}
    c = Candidate(name, "onnxruntime", "int8", recipe, deps=["onnxruntime"])
    if not (_ops(src) & _QUANTISABLE):
        c.status, c.reason = "pruned", ("no Conv/MatMul/Gemm to quantise (tree ensembles and "
                                        "linear ai.onnx.ml ops stay fp32)")
        return c
    import onnxruntime as ort

    in_name = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    out = work / f"{name}.onnx"
    try:
        quantize_static(str(src), str(out), _Reader(in_name, x), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=reduce_range,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax)
    except Exception as e:
        c.status, c.reason = "pruned", f"static quantisation failed: {type(e).__name__}: {e}"
        return c
    c.path, c.size_bytes = str(out), _size(out)
    return c


def _int8_dynamic(src: Path, work: Path) -> Candidate:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    c = Candidate("int8-dynamic", "onnxruntime", "int8", {"weights": "s8", "mode": "dynamic"},
                  deps=["onnxruntime"])
    ops = _ops(src)
    if "Conv" in ops:
        c.status, c.reason = "pruned", ("dynamic INT8 takes the ConvInteger path on conv nets, "
                                        "measured 4-5x slower than fp32 (research §2.3)")
        return c
    if not ops & {"MatMul", "Gemm"}:
        c.status, c.reason = "pruned", "no MatMul/Gemm to quantise dynamically"
        return c
    out = work / "int8-dynamic.onnx"
    try:
        quantize_dynamic(str(src), str(out), weight_type=QuantType.QInt8)
    except Exception as e:
        c.status, c.reason = "pruned", f"dynamic quantisation failed: {type(e).__name__}: {e}"
        return c
    c.path, c.size_bytes = str(out), _size(out)
    return c


def build_candidates(model: Model, profile: TargetProfile, rows: Any, work_dir: str | Path,
                     calibration: Any = None) -> list[Candidate]:
    """Every cell for ``model`` under ``profile``, built into ``work_dir``.

    ``rows``: sample inputs (holdout) used for conversion parity shapes. ``calibration``:
    rows for static INT8 (default: ``rows``); both are checked against the signature.
    """
    work = Path(work_dir)
    work.mkdir(parents=True, exist_ok=True)
    x = check_calibration(model, rows)
    calib = check_calibration(model, calibration) if calibration is not None else x
    allowed = profile.software.runtimes_allowed
    native = Candidate("native", "native", "fp32", {"flavor": model.flavor.name},
                       path=str(model.folder), deps=list(model.flavor.packages),
                       size_bytes=_native_size(model))
    if model.flavor.name == "onnx":
        native.runtime, native.deps = "onnxruntime", ["onnxruntime"]
    if native.runtime not in allowed:
        native.status, native.reason = "pruned", f"runtime {native.runtime} not allowed by the profile"
    out = [native]
    if "onnxruntime" not in allowed:
        out.append(Candidate("onnx-fp32", "onnxruntime", "fp32", status="pruned",
                             reason="runtime onnxruntime not allowed by the profile"))
        return out
    fp32 = _onnx_fp32(model, x, work) if model.flavor.name != "onnx" else None
    if fp32 is None:  # already ONNX: the native cell is the fp32 graph
        src = Path(model.folder) / str(model.meta.flavors["onnx"].get("data", "model.onnx"))
    else:
        out.append(fp32)
        if fp32.status != "ok":
            return out
        assert fp32.path is not None
        src = Path(fp32.path)
    out.append(_onnx_opt(src, work))
    for rr in (False, True):
        out.append(_int8_static(src, calib, work, rr))
    out.append(_int8_dynamic(src, work))
    for c in out:
        if c.status == "pruned":
            log.info("candidate %s pruned: %s", c.name, c.reason)
    return out


__all__ = ["Candidate", "build_candidates", "check_calibration"]
