"""Every serving route declares a permission; with a token, REST and gRPC both require it."""

from __future__ import annotations

import httpx
import pytest
import tritonclient.grpc as tgrpc
from tritonclient.utils import InferenceServerException

from loopml.security import Authenticator, PermissionedRoute
from tests.serving.conftest import start

TOKEN = "serve-token"  # noqa: S105 - a test token


def test_every_route_declares_a_permission(served) -> None:  # type: ignore[no-untyped-def]
    routes = served.app.routes
    assert routes and all(isinstance(r, PermissionedRoute) for r in routes)


def test_token_required(model_dirs, cancer, tmp_path) -> None:
    x, _, _ = cancer
    s = start({"m": str(model_dirs["hgb_onnx"])}, tmp_path, auth=Authenticator(TOKEN))
    try:
        body = {"inputs": [{"name": "input-0", "shape": [1, 30], "datatype": "FP64",
                            "data": x[0].tolist()}]}
        assert httpx.post(f"{s.url}/v2/models/m/infer", json=body).status_code == 401
        ok = httpx.post(f"{s.url}/v2/models/m/infer", json=body,
                        headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200
        assert httpx.get(f"{s.url}/v2/health/ready").status_code == 200  # probes stay public
        c = tgrpc.InferenceServerClient(s.grpc)
        assert c.is_server_live()
        inp = tgrpc.InferInput("input-0", [1, 30], "FP64")
        inp.set_data_from_numpy(x[:1])
        with pytest.raises(InferenceServerException, match="Authentication required"):
            c.infer("m", [inp])
        res = c.infer("m", [inp], headers={"authorization": f"Bearer {TOKEN}"})
        assert res.as_numpy("predict").shape == (1,)
    finally:
        s.stop()
