"""A real OpenID Connect provider for the tests: ``oidc-provider-mock`` (PyPI) started as a
subprocess on a free loopback port. It signs ID tokens with RS256 and a key generated at
start-up, so restarting it on the same port is a key rotation. Tokens are obtained through
its authorization-code flow (its consent form takes the subject in a POST)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from tests.conftest import free_port

CLIENT_ID = "loopml"
REDIRECT = "http://127.0.0.1/ui/oidc/callback"


@dataclass
class Provider:
    port: int
    token_max_age_s: int = 3600
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Provider:
        if importlib.util.find_spec("oidc_provider_mock") is None:
            pytest.skip("oidc-provider-mock (the dev extra) is not installed")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "oidc_provider_mock", "-p", str(self.port),
             "-e", str(self.token_max_age_s)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 60  # a loaded 2-core machine starts Python slowly
        while True:
            try:
                httpx.get(self.issuer + "/.well-known/openid-configuration", timeout=1)
                return self
            except httpx.HTTPError:
                if time.time() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("oidc-provider-mock did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

    def restart(self) -> None:
        """A new process on the same port: a new signing key (a key rotation)."""
        self.stop()
        self.start()

    def set_user(self, sub: str, **claims: Any) -> None:
        httpx.put(f"{self.issuer}/users/{sub}", json=claims).raise_for_status()

    def code(self, sub: str, client_id: str = CLIENT_ID, redirect_uri: str = REDIRECT,
             **params: str) -> str:
        """An authorization code for ``sub`` (the consent form, answered)."""
        q = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
             "scope": "openid email profile", **params}
        r = httpx.post(f"{self.issuer}/oauth2/authorize?{urlencode(q)}", data={"sub": sub})
        assert r.status_code == 302, r.text
        return parse_qs(urlsplit(r.headers["location"]).query)["code"][0]

    def id_token(self, sub: str, client_id: str = CLIENT_ID, **claims: Any) -> str:
        """A fresh ID token (a JWT, ``aud`` = ``client_id``) for ``sub`` with ``claims``."""
        if claims:
            self.set_user(sub, **claims)
        code = self.code(sub, client_id)
        r = httpx.post(f"{self.issuer}/oauth2/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
            "client_id": client_id, "client_secret": "any"})
        r.raise_for_status()
        return str(r.json()["id_token"])


def start_provider(token_max_age_s: int = 3600) -> Provider:
    return Provider(free_port(), token_max_age_s).start()
