"""Explanation routes of the data plane (SHAP values through ``loopml.models.explain``).

- ``POST /v1/models/{name}:explain``: KServe's V1 convention. The body is any MLflow
  scoring format (``{"instances": [[...], ...]}``, ``dataframe_split``, ...); the answer
  is ``{"model_name", "model_version", "explainer", "output", "feature_names",
  "shap_values", "base_values", ...}``.
- ``POST /v2/models/{name}/explain``: a V2 inference request; the answer has the V2
  response shape with two outputs, ``shap_values`` ([rows, features], FP64) and
  ``base_values`` ([rows], FP64), and the rest in ``parameters``.

The explanation runs in a worker thread (TreeSHAP on one row takes a few milliseconds;
KernelSHAP much longer), bounded by the server's ``explain_budget_ms``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import LoopmlError
from loopml.server._http import read_body
from loopml.serving import codec
from loopml.serving.repository import ModelRepository

JSON = "application/json"


def _json(obj: Any, status: int = 200, rid: str | None = None) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status_code=status,
                    media_type=JSON, headers={"x-request-id": rid} if rid else None)


def explain_handlers(repo: ModelRepository, max_body_bytes: int) -> dict[str, Any]:
    """{"v1": handler, "v2": handler}; ``serving.app`` mounts them."""
    budget = repo.settings.explain_budget_ms

    async def v1(request: Request) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        name = request.path_params["name"]
        try:
            body = await read_body(request, max_body_bytes, "Send fewer rows to explain.")
            model, _ = await repo.get(name)
            frame = codec.decode_invocations(body, request.headers.get("content-type", JSON),
                                             model.spec.column_types)
            rows = model.rows_from_any(frame)
            exp = await asyncio.to_thread(model.explain, rows, budget)
        except LoopmlError as e:
            return _json({"error": e.message}, e.http_status, rid)
        return _json({"model_name": name, "model_version": model.version, **exp.to_json()},
                     rid=rid)

    async def v2(request: Request) -> Response:
        rid = request.headers.get("x-request-id") or uuid.uuid4().hex
        name = request.path_params["name"]
        try:
            body = await read_body(request, max_body_bytes, "Send fewer rows to explain.")
            model, _ = await repo.get(name)
            inputs, body_id, _ = codec.decode_v2_request(
                body, codec.parse_header_length(
                    request.headers.get("inference-header-content-length")))
            rows = model.rows_from_v2(inputs)
            exp = await asyncio.to_thread(model.explain, rows, budget)
        except LoopmlError as e:
            return _json({"error": e.message}, e.http_status, rid)
        meta = exp.to_json()
        params = {k: v for k, v in meta.items() if k not in ("shap_values", "base_values")}
        out: dict[str, Any] = {"model_name": name, "model_version": model.version,
                               "outputs": [codec.encode_tensor("shap_values", exp.values),
                                           codec.encode_tensor("base_values",
                                                               exp.base_values)],
                               "parameters": params}
        if body_id:
            out["id"] = body_id
        return _json(out, rid=rid)

    return {"v1": v1, "v2": v2}
