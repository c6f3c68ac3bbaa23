"""The model repository extension over REST (Triton's protocol,
https://github.com/triton-inference-server/server/blob/main/docs/protocol/extension_model_repository.md):

- ``POST /v2/repository/index`` (body ``{"ready": bool}``, optional) -> ``[{name, version,
  state, reason}]``, state READY or UNAVAILABLE;
- ``POST /v2/repository/models/{name}/load`` (re)loads a model *of the configured
  repository* (a name the server was started with); a name not in it is a 404;
- ``POST /v2/repository/models/{name}/unload``: requests for it get 503 until a load.

Triton lets a load request carry a model config or files (``parameters.config``,
``parameters."file:..."``). loopml never loads from what a request sends (the security
design: nothing is imported or unpickled because a request named it), so such parameters
are a 400.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from loopml.errors import LoopmlError
from loopml.serving.codec import BadInput
from loopml.serving.repository import ModelRepository

JSON = "application/json"


def _error(e: LoopmlError) -> Response:
    return Response(orjson.dumps({"error": e.message}), status_code=e.http_status,
                    media_type=JSON)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise BadInput(f"The request body is not valid JSON: {e}.") from None
    if not isinstance(body, dict):
        raise BadInput("The request body must be a JSON object.")
    params = body.get("parameters", {})
    if not isinstance(params, dict):
        raise BadInput("'parameters' must be an object.")
    return body


def check_load_parameters(params: dict[str, Any]) -> None:
    """Refuse a load that brings its own config or files (loads come only from the
    configured repository)."""
    sent = sorted(k for k in params if k == "config" or k.startswith("file:"))
    if sent:
        raise BadInput(f"Load parameters {sent} are not accepted: loopml loads models only "
                       "from the repository it was started with (MODEL_URI arguments), never "
                       "from a config or files sent in the request.")


def repository_handlers(repo: ModelRepository) -> dict[str, Any]:
    """{operation: async handler} for the three routes; ``serving.app`` mounts them."""

    async def index(request: Request) -> Response:
        try:
            body = await _body(request)
            ready = body.get("ready", False)
            if not isinstance(ready, bool):
                raise BadInput(f"'ready' must be true or false, got {ready!r:.40}.")
        except LoopmlError as e:
            return _error(e)
        return Response(orjson.dumps(repo.index(ready)), media_type=JSON)

    async def load(request: Request) -> Response:
        try:
            check_load_parameters((await _body(request)).get("parameters", {}))
            await repo.load(request.path_params["name"])
        except LoopmlError as e:
            return _error(e)
        except Exception as e:  # the model's files: unreadable, untrusted pickle, ...
            return _error(BadInput(f"Model {request.path_params['name']!r} failed to load: "
                                   f"{e}"))
        return Response(b"", status_code=200, media_type=JSON)

    async def unload(request: Request) -> Response:
        try:
            await _body(request)
            await repo.unload(request.path_params["name"])
        except LoopmlError as e:
            return _error(e)
        return Response(b"", status_code=200, media_type=JSON)

    return {"index": index, "load": load, "unload": unload}
