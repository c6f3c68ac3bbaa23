"""The ``predict`` operator's registered models: a rule names a model URI
(``models:/name@alias``, ``models:/name/3``, ``runs:/...``, a folder) or an entry of the app's
``models:`` section, and :class:`StreamModel` scores each micro-batch through the serving
runtime (:class:`loopml.serving.runtime.ServedModel`: the same flavors, signature, ONNX fast
path and trust rules as ``loopml serve``).

- **Checked before start.** The URI is resolved and the model loaded while the plan compiles,
  so a URI that does not resolve, or rule ``inputs`` that do not match the model's signature,
  are lint problems (``loopml stream lint`` exits 2) and nothing runs.
- **Follows the alias.** For ``models:/name@alias``, the alias is resolved again at most every
  ``refresh`` ms, always *before* a batch is scored: a promoted champion takes over between
  two batches, never within one. A new version whose signature no longer fits the rule's
  inputs is refused (the old one keeps scoring; ``refused`` counts it, and a warning is logged).
- **Logged.** Every scored batch is one record of the inference log (``loopml.inference_log``,
  the contract HTTP serving writes): deployment = the app, request id
  ``<app>-<rule>-<run>-<n>``, inputs = the signature columns of the batch's rows, outputs =
  the predictions, so monitors, drift and the closed loop read streaming deployments as they
  read HTTP ones.
- **One native thread.** ``OMP_NUM_THREADS=1`` (unless set) and a thread-pool limit are set
  when a model is loaded: on few cores OpenMP's thread team spin-waits against the broker
  client (research/streaming.md §5: HistGradientBoosting on 10k rows, 24 ms with one thread,
  40 ms with two).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger("loopml.streaming")

#: Prefixes that make a ``predict.model`` value a model URI rather than a registered name.
URI_PREFIXES = ("models:/", "runs:/", "file://", "/", "./")
DEFAULT_REFRESH_MS = 5_000

_NUMERIC_V2 = {"BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
               "UINT64", "FP16", "FP32", "FP64"}


def is_model_uri(text: str) -> bool:
    return text.startswith(URI_PREFIXES)


@dataclass(frozen=True)
class ModelOptions:
    """How a rule app uses a model: ``refresh_ms`` (how often an alias is resolved again;
    0 = before every batch), ``trust`` (load pickles of a folder the registry does not mark
    trusted), ``prefer_onnx`` (the ONNX flavor when the model has one)."""

    refresh_ms: int = DEFAULT_REFRESH_MS
    trust: bool = False
    prefer_onnx: bool = True


class StreamModel:
    """A registered model scoring micro-batches; see the module docstring.

    ``__call__({column: 1-D array}) -> {output column: 1-D array}`` (same length as the
    inputs). Raises whatever the model raises on bad rows (the plan turns that batch into
    dead letters). Construction raises ``loopml.errors.LoopmlError`` subclasses when the URI
    does not resolve or the model cannot be loaded."""

    def __init__(self, uri: str, *, name: str | None = None, options: ModelOptions | None = None,
                 logger: Any = None, deployment: str = "stream", source: str = "stream") -> None:
        from loopml.serving.runtime import limit_native_threads, limit_threads

        limit_threads()
        limit_native_threads()
        self.uri = uri
        self.options = options or ModelOptions()
        self.name = name or _name_of(uri)
        self.logger = logger
        self.deployment = deployment
        self.source = source
        self.alias = "@" in uri and uri.startswith("models:/")
        self.served = self._load()
        self.swaps = 0
        self.refused = 0
        self.batches = 0
        self._checked_at = time.monotonic()
        self._run = uuid.uuid4().hex[:8]
        self._lock = threading.Lock()

    def _load(self) -> Any:
        from loopml.serving.runtime import ServedModel

        return ServedModel(self.name, self.uri, trust=self.options.trust,
                           prefer_onnx=self.options.prefer_onnx)

    @property
    def version(self) -> str:
        return str(self.served.version)

    # ---- lint ----------------------------------------------------------------------------
    def input_problems(self, inputs: list[str], fields: Mapping[str, str]) -> list[str]:
        """Why rows with columns ``inputs`` (stream types ``fields``) cannot go to this model
        (empty when they can). Tabular signatures match by name; tensor signatures by count."""
        return _input_problems(self.served.spec, inputs, fields)

    def output_types(self) -> dict[str, str]:
        """{``predict`` / ``predict_proba``: stream type} of what this model returns."""
        outs = self.served.outputs
        kind = "str" if outs["predict"].datatype == "BYTES" else "float64"
        return {"predict": kind, **({"predict_proba": "float64"} if "predict_proba" in outs else {})}

    # ---- run -----------------------------------------------------------------------------
    def maybe_swap(self) -> None:
        """Resolve the alias again when ``refresh_ms`` has passed; load a new version and swap
        it in (one reference assignment, between batches). A failure keeps the old model."""
        if not self.alias:
            return
        now = time.monotonic()
        if (now - self._checked_at) * 1000 < self.options.refresh_ms:
            return
        self._checked_at = now
        from loopml.models.uris import _default_client, resolve_version

        try:
            mv = resolve_version(self.uri, _default_client())
        except Exception as e:  # the registry is unreachable: keep scoring with what we have
            log.warning("stream model %s: cannot resolve %s (%s); keeping version %s",
                        self.name, self.uri, e, self.version)
            return
        if mv is None or str(mv.version) == self.version:
            return
        try:
            new = self._load()
        except Exception as e:
            self.refused += 1
            log.warning("stream model %s: version %s of %s failed to load (%s); keeping %s",
                        self.name, mv.version, self.uri, e, self.version)
            return
        inputs = getattr(self, "_inputs", None)
        if inputs is not None:
            probs = _input_problems(new.spec, inputs[0], inputs[1])
            if probs:
                self.refused += 1
                log.warning("stream model %s: version %s does not fit the rule (%s); keeping %s",
                            self.name, new.version, "; ".join(probs), self.version)
                return
        self.served = new
        self.swaps += 1
        log.info("stream model %s: now version %s (%s)", self.name, new.version, self.uri)

    def bind(self, inputs: list[str], fields: Mapping[str, str]) -> None:
        """Remember the rule's inputs, so that a swapped-in version is checked against them."""
        self._inputs = (list(inputs), dict(fields))

    def __call__(self, cols: Mapping[str, np.ndarray], proba: bool = False) -> dict[str, np.ndarray]:
        with self._lock:  # one batch at a time per model: a swap never lands mid-batch
            self.maybe_swap()
            served = self.served
            t0 = time.perf_counter()
            rows, logged = _rows(served, cols)
            names = ("predict", "predict_proba") if proba else ("predict",)
            out = served.predict_outputs(rows, names) if proba else {"predict": served.predict_rows(rows)}
            ms = (time.perf_counter() - t0) * 1000
            self.batches += 1
            seq = self.batches
        pred = np.asarray(out["predict"]).reshape(len(next(iter(cols.values()))), -1)[:, 0] \
            if np.asarray(out["predict"]).ndim > 1 else np.asarray(out["predict"])
        result = {"predict": pred}
        if proba:
            p = np.asarray(out["predict_proba"], dtype=np.float64)
            result["predict_proba"] = p[:, -1] if p.ndim == 2 else p
        if self.logger is not None:
            self.logger.record(self.deployment, f"{self.source}-{self._run}-{seq}", self.name,
                               str(served.version), logged, pred, ms)
        return result


def _name_of(uri: str) -> str:
    ref = uri.split(":/", 1)[-1].strip("/")
    if uri.startswith("models:/"):
        return ref.split("@")[0].split("/")[0]
    return ref.rsplit("/", 1)[-1] or "model"


def _input_problems(spec: Any, inputs: list[str], fields: Mapping[str, str]) -> list[str]:
    if spec.tabular:
        missing = [n for n in spec.names if n not in inputs]
        extra = [n for n in inputs if n not in spec.names]
        out = []
        if missing:
            out.append(f"the model's signature needs column(s) {missing}, not in the rule's inputs")
        if extra:
            out.append(f"input(s) {extra} are not in the model's signature {spec.names}")
        for n, t in zip(spec.names, spec.v2_types, strict=True):
            if n in inputs and t in _NUMERIC_V2 and fields.get(n) == "str":
                out.append(f"input {n!r} is a str column but the model's signature wants {t}")
        return out
    if spec.width is not None and len(inputs) != spec.width:
        return [f"the model takes {spec.width} features per row, the rule gives {len(inputs)}"]
    strs = [n for n in inputs if fields.get(n) == "str"]
    return [f"input(s) {strs} are str columns but the model takes numbers"] if strs else []


def _rows(served: Any, cols: Mapping[str, np.ndarray]) -> tuple[Any, dict[str, np.ndarray]]:
    """(what the model gets, the columns the inference log records). Numeric columns are
    stacked into one float matrix in signature order (no DataFrame: ~0.1 ms saved per batch);
    string columns go through the signature's frame check as ``loopml serve``'s do."""
    spec = served.spec
    names = spec.names if spec.tabular else list(cols)
    logged = {n: np.asarray(cols[n]) for n in names}
    if spec.string_columns or any(a.dtype.kind not in "biuf" for a in logged.values()):
        return served.rows_from_any(logged), logged
    mat = np.column_stack([a for a in logged.values()]).astype(spec.dtype, copy=False)
    return mat, logged


class ModelResolver:
    """Resolves each ``predict.model`` of one plan once (a URI used by two rules is loaded
    once). Problems are returned as text for the lint."""

    def __init__(self, refs: Mapping[str, Any], logger: Any, deployment: str) -> None:
        self.refs = refs  # the app's models: section, name -> ModelRef
        self.logger = logger
        self.deployment = deployment
        self.loaded: dict[str, StreamModel] = {}

    def get(self, name: str, rule: str) -> tuple[StreamModel | None, str | None]:
        ref = self.refs.get(name)
        uri = ref.uri if ref is not None else name
        if ref is None and not is_model_uri(name):
            return None, None  # not a URI: the caller reports "no model registered as ..."
        options = ModelOptions(refresh_ms=ref.refresh if ref is not None else DEFAULT_REFRESH_MS,
                               trust=bool(ref.trust) if ref is not None else False,
                               prefer_onnx=ref.onnx if ref is not None else True)
        key = f"{uri}|{options}"
        if key in self.loaded:
            return self.loaded[key], None
        try:
            m = StreamModel(uri, name=None if ref is None else name, options=options,
                            logger=self.logger, deployment=self.deployment,
                            source=f"{self.deployment}-{rule}")
        except Exception as e:  # LoopmlError (does not resolve, untrusted) or a broken folder
            return None, f"model URI {uri!r} does not resolve or load: {getattr(e, 'message', None) or e}"
        self.loaded[key] = m
        return m, None


__all__ = ["DEFAULT_REFRESH_MS", "ModelOptions", "ModelResolver", "StreamModel", "is_model_uri"]
