"""OIDC JWT bearer tokens, checked against a real provider process (oidc-provider-mock):
signature, issuer, audience, expiry, algorithm, key rotation, the claim mapping, and the
unmodified mlflow client sending a provider-issued JWT as MLFLOW_TRACKING_TOKEN."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loopml.config import load_settings
from loopml.errors import InvalidConfig, Unauthenticated
from loopml.security import IdentityKind, Permission, Role
from loopml.security.oidc import (
    ClaimMapping,
    ClaimRule,
    JWTVerifier,
    OidcConfig,
    is_service_account,
    looks_like_jwt,
)
from tests.security._oidc import CLIENT_ID, Provider, start_provider

MAPPING = ClaimMapping(claim="groups", rules=(
    ClaimRule("ml-admins", "admin", "*"), ClaimRule("team-a", "editor", "team-a"),
    ClaimRule("readers", "viewer", "default")))


@pytest.fixture(scope="module")
def provider() -> Iterator[Provider]:
    p = start_provider()
    yield p
    p.stop()


def verifier(p: Provider, **kw: object) -> JWTVerifier:
    cfg: dict[str, object] = {"issuer": p.issuer, "audience": CLIENT_ID, "mapping": MAPPING,
                              **kw}
    return JWTVerifier(OidcConfig(**cfg))  # type: ignore[arg-type]


def test_valid_token_gets_mapped_roles(provider: Provider) -> None:
    v = verifier(provider)
    token = provider.id_token("alice", groups=["team-a", "other"])
    p = v.verify("bearer", token)
    assert p is not None and p.subject == "alice" and p.via == "oidc"
    assert p.kind is IdentityKind.USER
    assert p.roles == {"team-a": Role.EDITOR}
    assert p.allows(Permission.WRITE, "team-a") and not p.allows(Permission.READ, "default")
    admin = v.verify("bearer", provider.id_token("root", groups=["ml-admins"]))
    assert admin is not None and admin.allows(Permission.ADMIN, "anything")
    # Cached until exp: the provider is not asked again, and the same principal comes back.
    assert v.verify("bearer", token) is p and v.jwks.fetches == 1


def test_other_bearer_tokens_are_not_its_kind(provider: Provider) -> None:
    v = verifier(provider)
    assert v.verify("bearer", "lml_0123456789abcdef") is None
    assert v.verify("basic", "YWxpY2U6cHc=") is None
    assert not looks_like_jwt("a.b.c") and v.jwks.fetches == 0


def test_wrong_audience_rejected(provider: Provider) -> None:
    token = provider.id_token("mallory", client_id="some-other-app", groups=["ml-admins"])
    with pytest.raises(Unauthenticated, match="audience"):
        verifier(provider).verify("bearer", token)


def test_wrong_issuer_rejected(provider: Provider) -> None:
    # The same server under another name: discovery and keys agree, the 'iss' does not.
    v = verifier(provider, issuer=f"http://localhost:{provider.port}")
    with pytest.raises(Unauthenticated, match="not issued by"):
        v.verify("bearer", provider.id_token("alice", groups=["readers"]))


def test_tampered_token_rejected(provider: Provider) -> None:
    v = verifier(provider)
    head, body, sig = provider.id_token("bob", groups=["readers"]).split(".")
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    with pytest.raises(Unauthenticated, match="signature"):
        v.verify("bearer", f"{head}.{body}.{flipped}")
    # Claims swapped for an admin's: the signature no longer covers them.
    admin_body = provider.id_token("bob", groups=["ml-admins"]).split(".")[1]
    with pytest.raises(Unauthenticated, match="signature"):
        v.verify("bearer", f"{head}.{admin_body}.{sig}")


def test_hmac_with_the_public_key_and_alg_none_rejected(provider: Provider) -> None:
    v = verifier(provider)
    v.verify("bearer", provider.id_token("carol", groups=["readers"]))
    pem = v.jwks.keys(None)[0].key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = {"sub": "carol", "iss": provider.issuer, "aud": CLIENT_ID,
              "exp": int(time.time()) + 600, "groups": ["ml-admins"]}
    # The classic key-confusion forgery: HS256 keyed with the provider's public key.
    import base64
    import hashlib
    import hmac
    import json

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    signing_input = (b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "."
                     + b64(json.dumps(claims).encode()))
    forged = signing_input + "." + b64(hmac.new(pem, signing_input.encode(),
                                                hashlib.sha256).digest())
    with pytest.raises(Unauthenticated, match="algorithm"):
        v.verify("bearer", forged)
    unsigned = jwt.encode(claims, None, algorithm="none")
    with pytest.raises(Unauthenticated):
        v.verify("bearer", unsigned)


def test_unsafe_algorithms_refused_in_config(provider: Provider) -> None:
    with pytest.raises(InvalidConfig, match="HS256"):
        OidcConfig(provider.issuer, CLIENT_ID, algorithms=("RS256", "HS256"))


def test_expired_token_rejected() -> None:
    short = start_provider(token_max_age_s=3)
    try:
        token = short.id_token("dave", groups=["readers"])
        v = verifier(short, leeway_s=0)
        assert v.verify("bearer", token) is not None
        time.sleep(3.2)  # 3 s tokens: a 1 s token could expire before the first check under load
        # The cache holds a token only until its exp, so the expiry is seen.
        with pytest.raises(Unauthenticated, match="expired"):
            v.verify("bearer", token)
        with pytest.raises(Unauthenticated, match="expired"):
            verifier(short, leeway_s=0).verify("bearer", token)
    finally:
        short.stop()


def test_key_rotation_followed_after_jwks_refetch() -> None:
    p = start_provider()
    try:
        v = verifier(p, jwks_min_refetch_s=0)
        old = p.id_token("erin", groups=["readers"])
        assert v.verify("bearer", old) is not None
        old_kid = v.jwks.keys(None)[0].key_id
        p.restart()  # the mock generates its key at start-up: a restart rotates it
        new = p.id_token("erin", groups=["readers"])
        assert v.verify("bearer", new) is not None
        assert v.jwks.fetches == 2 and v.jwks.keys(None)[0].key_id != old_kid
        with pytest.raises(Unauthenticated, match="signature"):
            verifier(p, jwks_min_refetch_s=0).verify("bearer", old)
    finally:
        p.stop()


def test_bogus_kids_cannot_hammer_the_provider(provider: Provider) -> None:
    v = verifier(provider, jwks_min_refetch_s=60)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = {"sub": "x", "iss": provider.issuer, "aud": CLIENT_ID,
              "exp": int(time.time()) + 600}
    for i in range(30):
        forged = jwt.encode(claims, key, algorithm="RS256", headers={"kid": f"bogus-{i}"})
        with pytest.raises(Unauthenticated, match="signing key"):
            v.verify("bearer", forged)
    assert v.jwks.fetches == 1  # the first fetch; every refetch after it was rate limited


def test_default_role_and_deny(provider: Provider) -> None:
    token = provider.id_token("frank", groups=["nobody"])
    denied = verifier(provider).verify("bearer", token)
    assert denied is not None and denied.roles == {}
    v = verifier(provider, mapping=ClaimMapping(rules=MAPPING.rules, default_role="viewer"))
    p = v.verify("bearer", token)
    assert p is not None and p.roles == {"default": Role.VIEWER}


def test_nested_claims_and_service_accounts() -> None:
    m = ClaimMapping(claim="realm_access.roles", rules=(ClaimRule("ops", "deployer"),))
    assert m.roles_for({"realm_access": {"roles": ["ops"]}}) == {"default": Role.DEPLOYER}
    assert is_service_account({"sub": "svc-1", "azp": "svc-1"})
    assert is_service_account({"sub": "u", "preferred_username": "service-account-ci"})
    assert not is_service_account({"sub": "alice", "azp": "loopml"})
    with pytest.raises(InvalidConfig, match="role"):
        ClaimRule("x", "superuser")


def test_half_configured_settings_fail_loudly(tmp_path, monkeypatch) -> None:
    for var in ("LOOPML_OIDC_ISSUER", "LOOPML_OIDC_CLIENT_ID", "LOOPML_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(InvalidConfig, match="without oidc_issuer"):
        load_settings(oidc_client_id="loopml")
    with pytest.raises(InvalidConfig, match="oidc_audience or oidc_client_id"):
        load_settings(oidc_issuer="https://idp.example")
    with pytest.raises(InvalidConfig, match="https"):
        load_settings(oidc_issuer="http://idp.example", oidc_client_id="loopml")
    with pytest.raises(InvalidConfig, match="no file"):
        load_settings(oidc_issuer="https://idp.example", oidc_client_id="loopml",
                      oidc_claim_mapping_file=str(tmp_path / "missing.yaml"))
    ok = load_settings(oidc_issuer="https://idp.example", oidc_client_id="loopml")
    assert ok.oidc_issuer == "https://idp.example"


def test_provider_down_is_a_503_without_waiting_each_time(provider: Provider) -> None:
    from loopml.errors import ServiceUnavailable
    from tests.conftest import free_port

    token = provider.id_token("gina", groups=["readers"])
    v = verifier(provider, issuer=f"http://127.0.0.1:{free_port()}")  # nothing listens
    with pytest.raises(ServiceUnavailable, match="reachable"):
        v.verify("bearer", token)
    t = time.perf_counter()
    with pytest.raises(ServiceUnavailable, match="a moment ago"):
        v.verify("bearer", token)
    assert time.perf_counter() - t < 0.05


def test_unknown_kid_refetches_the_jwks(tmp_path) -> None:
    """Providers that put a ``kid`` in their tokens (Keycloak, Entra ID): a token signed by
    a key published after loopml fetched the set verifies after one refetch. The mock
    signs without a kid, so a minimal provider (discovery + JWKS, PyJWT keys) serves here."""
    import threading

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from tests.conftest import free_port

    port = free_port()
    issuer = f"http://127.0.0.1:{port}"
    keys: dict[str, rsa.RSAPrivateKey] = {}

    def publish(kid: str) -> rsa.RSAPrivateKey:
        keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return keys[kid]

    async def discovery(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"issuer": issuer, "jwks_uri": issuer + "/jwks"})

    async def jwks(request):  # type: ignore[no-untyped-def]
        import json as _json

        out = []
        for kid, k in keys.items():
            jwk = _json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(k.public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return JSONResponse({"keys": out})

    app = Starlette(routes=[Route("/.well-known/openid-configuration", discovery),
                            Route("/jwks", jwks)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    try:
        claims = {"sub": "h", "iss": issuer, "aud": CLIENT_ID,
                  "exp": int(time.time()) + 600, "groups": ["readers"]}
        v = JWTVerifier(OidcConfig(issuer, CLIENT_ID, mapping=MAPPING, jwks_min_refetch_s=0))
        k1 = publish("k1")
        assert v.verify("bearer", jwt.encode(claims, k1, "RS256", headers={"kid": "k1"}))
        k2 = publish("k2")  # the provider rotates: a new key, published
        del keys["k1"]
        assert v.verify("bearer", jwt.encode(claims, k2, "RS256", headers={"kid": "k2"}))
        assert v.jwks.fetches == 2 and [k.key_id for k in v.jwks.keys(None)] == ["k2"]
    finally:
        server.should_exit = True
