"""The OIDC verifier never fetches keys on the event loop: a JWT not seen before, while a
JWKS fetch is due, is checked in a worker thread; cached tokens and kept keys are checked
on the loop. Against the real provider process (oidc-provider-mock), key rotation
included."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.testclient import TestClient

from loopml.security import Authenticator, Permission, route
from loopml.security.oidc import ClaimMapping, ClaimRule, JWTVerifier, OidcConfig
from tests.security._oidc import CLIENT_ID, Provider, start_provider

MAPPING = ClaimMapping(rules=(ClaimRule("ml", "editor"),))


@pytest.fixture
def provider() -> Iterator[Provider]:
    p = start_provider()
    yield p
    p.stop()


def _app(v: JWTVerifier, fetch_threads: list[str], loop_threads: list[str]) -> Starlette:
    fetch = v.jwks._fetch

    def recording_fetch() -> None:
        fetch_threads.append(threading.current_thread().name)
        fetch()

    v.jwks._fetch = recording_fetch  # type: ignore[method-assign]

    async def probe(request: Request) -> Response:
        loop_threads.append(threading.current_thread().name)  # the event loop's thread
        return JSONResponse({"who": request.state.principal.subject})

    auth = Authenticator(verifiers=[v], required=True)
    return Starlette(routes=[route("/probe", probe, ["GET"], Permission.READ, auth)])


def _get(c: TestClient, token: str) -> Any:
    return c.get("/probe", headers={"Authorization": f"Bearer {token}"})


def test_jwks_fetches_run_off_the_event_loop_and_follow_a_rotation(provider: Provider) -> None:
    v = JWTVerifier(OidcConfig(provider.issuer, CLIENT_ID, mapping=MAPPING,
                               jwks_min_refetch_s=0))
    fetches: list[str] = []
    loop: list[str] = []
    with TestClient(_app(v, fetches, loop)) as c:
        old = provider.id_token("ann", groups=["ml"])
        r = _get(c, old)
        assert r.status_code == 200 and r.json() == {"who": "ann"}
        assert len(fetches) == 1 and fetches[0] != loop[0]  # fetched in a worker thread
        assert _get(c, old).status_code == 200  # cached: no fetch, checked on the loop
        assert len(fetches) == 1
        assert not v.may_block("bearer", old)
        provider.restart()  # a new signing key: the provider rotated
        new = provider.id_token("ann", groups=["ml"])
        assert v.may_block("bearer", new)
        assert _get(c, new).status_code == 200  # unknown kid: refetched, off the loop
        assert len(fetches) == 2 and all(t != loop[0] for t in fetches)


def test_rate_limited_refetch_keeps_unknown_kids_on_the_loop(provider: Provider) -> None:
    """Within min_refetch_s no fetch can happen, so an unknown token is refused (401) on
    the loop without a thread hop or a request to the provider."""
    v = JWTVerifier(OidcConfig(provider.issuer, CLIENT_ID, mapping=MAPPING,
                               jwks_min_refetch_s=3600))
    fetches: list[str] = []
    with TestClient(_app(v, fetches, [])) as c:
        assert _get(c, provider.id_token("bo", groups=["ml"])).status_code == 200
        provider.restart()
        rotated = provider.id_token("bo", groups=["ml"])
        assert not v.may_block("bearer", rotated)
        assert _get(c, rotated).status_code == 401
    assert len(fetches) == 1
