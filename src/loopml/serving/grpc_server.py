"""The Open Inference Protocol over gRPC (``inference.GRPCInferenceService``), on grpc.aio in
the same event loop as the REST app, sharing its models and batchers.

Tensors arrive either typed (``contents``) or as ``raw_input_contents`` (little-endian bytes,
what tritonclient sends); responses use ``raw_output_contents``. Errors map to
INVALID_ARGUMENT (bad input), NOT_FOUND (unknown model), UNAVAILABLE (overload, draining).
"""

from __future__ import annotations

import struct
import time
import uuid
from typing import Any

import grpc
import numpy as np

from loopml._version import __version__
from loopml.errors import InternalError, LoopmlError, ResourceDoesNotExist, ServiceUnavailable
from loopml.security import Permission
from loopml.serving._proto import open_inference_pb2 as pb
from loopml.serving._proto import open_inference_pb2_grpc as pb_grpc
from loopml.serving._repo_api import check_load_parameters
from loopml.serving.app import EXTENSIONS, log, predict, primary
from loopml.serving.codec import (
    V2_TO_NUMPY,
    BadInput,
    Tensor,
    _from_binary,
    check_shape,
    shaped,
    to_array,
    v2_datatype,
)

_CONTENTS_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}


def _code(e: LoopmlError) -> grpc.StatusCode:
    if isinstance(e, ResourceDoesNotExist):
        return grpc.StatusCode.NOT_FOUND
    if isinstance(e, ServiceUnavailable):
        return grpc.StatusCode.UNAVAILABLE
    if e.http_status in (401,):
        return grpc.StatusCode.UNAUTHENTICATED
    if e.http_status == 403:
        return grpc.StatusCode.PERMISSION_DENIED
    return grpc.StatusCode.INVALID_ARGUMENT if e.http_status < 500 else grpc.StatusCode.INTERNAL


def _encode_bytes(arr: np.ndarray) -> bytes:
    parts = []
    for x in arr.ravel():
        b = x if isinstance(x, bytes) else str(x).encode()
        parts.append(struct.pack("<I", len(b)) + b)
    return b"".join(parts)


def decode_inputs(req: Any) -> list[Tensor]:
    tensors = []
    raw = list(req.raw_input_contents)
    if raw and len(raw) != len(req.inputs):
        raise BadInput("raw_input_contents must hold one entry per input.")
    for i, t in enumerate(req.inputs):
        if t.datatype not in V2_TO_NUMPY:
            raise BadInput(f"Input {t.name!r}: unknown datatype {t.datatype!r}.")
        shape = check_shape(t.name, list(t.shape))
        if raw:
            arr = _from_binary(t.name, t.datatype, raw[i])
        elif t.datatype == "FP16":  # no typed field: FP16 travels only as raw bytes
            raise BadInput(f"Input {t.name!r}: FP16 data must be sent in raw_input_contents.")
        else:
            # int_contents is int32 on the wire: INT8 1000 fits it but not INT8.
            arr = to_array(t.name, t.datatype, getattr(t.contents, _CONTENTS_FIELD[t.datatype]))
        tensors.append(shaped(t.name, shape, arr))
    return tensors


class _Meta:
    """Just enough of a request for Authenticator.check: the authorization and workspace headers."""

    def __init__(self, context: Any) -> None:
        md = dict(context.invocation_metadata() or ())
        self.headers = {"authorization": md.get("authorization", ""),
                        "x-mlflow-workspace": md.get("x-mlflow-workspace", "")}


class InferenceServicer(pb_grpc.GRPCInferenceServiceServicer):
    """Health RPCs are public, like the REST probes; metadata and inference need the same
    credentials as REST (``authorization`` metadata: ``Bearer <token>``)."""

    def __init__(self, state: Any) -> None:
        self.state = state  # serving.app.ServingState

    async def _authorize(self, context: Any, permission: Permission) -> None:
        try:
            self.state.auth.check(_Meta(context), permission)  # type: ignore[arg-type]
        except LoopmlError as e:
            await context.abort(_code(e), e.message)

    async def ServerLive(self, request: Any, context: Any) -> Any:  # noqa: N802
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        ok = not self.state.draining and all(e.error is None
                                             for e in self.state.repo.entries.values())
        return pb.ServerReadyResponse(ready=ok)

    async def ModelReady(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            await self.state.repo.get(request.name, request.version or None)
        except LoopmlError as e:
            await context.abort(_code(e), e.message)
        return pb.ModelReadyResponse(ready=not self.state.draining)

    async def ServerMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._authorize(context, Permission.READ)
        return pb.ServerMetadataResponse(name="loopml", version=__version__,
                                         extensions=list(EXTENSIONS))

    async def ModelMetadata(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._authorize(context, Permission.READ)
        try:
            model, _ = await self.state.repo.get(request.name, request.version or None)
        except LoopmlError as e:
            await context.abort(_code(e), e.message)
        md = model.metadata()
        meta = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=md["name"], versions=md["versions"], platform=md["platform"],
            inputs=[meta(**t) for t in md["inputs"]], outputs=[meta(**t) for t in md["outputs"]])

    async def ModelInfer(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._authorize(context, Permission.WRITE)
        t0 = time.perf_counter()
        st = self.state
        name, mv, status = request.model_name, request.model_version or "", "200"
        rid = request.id or uuid.uuid4().hex
        try:
            if st.draining:
                raise ServiceUnavailable("The server is shutting down; retry on another replica.")
            router = st.routers.get(name)
            if router:
                entry = router.choose(dict(context.invocation_metadata() or ()))[0]
                model, batcher = await st.repo.get(entry)
            else:
                model, batcher = await st.repo.get(name, request.model_version or None)
            mv = model.version
            rows = model.rows_from_v2(decode_inputs(request))
            names = model.check_outputs([o.name for o in request.outputs] or None)
            out = await predict(batcher, rows, names)
            outs = out if isinstance(out, dict) else \
                {"predict": model.outputs["predict"].cast(np.asarray(out))}
            if st.logger:
                st.logger.record(st.deployment, rid, name, mv, rows, primary(out),
                                 (time.perf_counter() - t0) * 1000)
            tensors, raws = [], []
            for n, arr in outs.items():
                dtype = v2_datatype(arr)
                tensors.append(pb.ModelInferResponse.InferOutputTensor(
                    name=n, datatype=dtype, shape=list(arr.shape)))
                raws.append(_encode_bytes(arr) if dtype == "BYTES" else np.ascontiguousarray(
                    arr).astype(arr.dtype.newbyteorder("<")).tobytes())
            return pb.ModelInferResponse(model_name=name, model_version=mv, id=request.id,
                                         outputs=tensors, raw_output_contents=raws)
        except Exception as exc:
            if isinstance(exc, LoopmlError):
                e = exc
            else:  # a server fault: logged, and INTERNAL (not UNKNOWN) for the client
                log.exception("unhandled error in ModelInfer %s (request %s)", name, rid)
                e = InternalError(f"Internal server error (request {rid}); see the server log.")
            status = str(e.http_status)
            st.metrics.errors.labels(name, type(e).__name__).inc()
            await context.abort(_code(e), e.message)
        finally:
            st.metrics.requests.labels(name, mv, "grpc", status).inc()
            st.metrics.latency.labels(name, mv, "grpc").observe(time.perf_counter() - t0)


    # ---- the model repository extension (Triton's RepositoryIndex/Load/Unload) -----------
    async def RepositoryIndex(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._authorize(context, Permission.READ)
        index = pb.RepositoryIndexResponse.ModelIndex
        return pb.RepositoryIndexResponse(
            models=[index(**m) for m in self.state.repo.index(request.ready)])

    async def RepositoryModelLoad(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._authorize(context, Permission.DEPLOY)
        try:
            check_load_parameters(dict(request.parameters))
            await self.state.repo.load(request.model_name)
        except LoopmlError as e:
            await context.abort(_code(e), e.message)
        except Exception as e:  # the model's files: unreadable, untrusted pickle, ...
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"Model {request.model_name!r} failed to load: {e}")
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(self, request: Any, context: Any) -> Any:  # noqa: N802
        await self._authorize(context, Permission.DEPLOY)
        try:
            await self.state.repo.unload(request.model_name)
        except LoopmlError as e:
            await context.abort(_code(e), e.message)
        return pb.RepositoryModelUnloadResponse()


async def start_grpc(state: Any, host: str, port: int) -> grpc.aio.Server:
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceServicer(state), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if not bound:
        raise ServiceUnavailable(f"Cannot bind gRPC port {host}:{port}.")
    await server.start()
    return server
