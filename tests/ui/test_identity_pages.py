"""The dashboard's identity features over Starlette's TestClient: who is signed in, the
workspace switcher (one rule for role checks and store scoping), password sign-in, the
admin users/tokens pages and self-service tokens, each form's CSRF check."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from loopml.security import Role
from loopml.security._identities import IdentityService
from loopml.security._sessions import new_session
from loopml.security._workspaces_sql import SqlWorkspaceStore
from loopml.server._factory import build_services
from loopml.server.app import create_app
from loopml.server.services import Services

PASSWORD = "correct-horse-1"  # noqa: S105 - a test password


@dataclass
class Env:
    services: Services
    svc: IdentityService
    root: Path

    def client(self, user: str | None = None) -> TestClient:
        """A client signed in as ``user`` (a password session), with a CSRF cookie."""
        c = TestClient(create_app(self.services), base_url="http://localhost", follow_redirects=False)
        if user is not None:
            ident = self.svc.store.get_identity(user)
            c.cookies.set("loopml_token", new_session(ident, 3600))
        c.cookies.set("loopml_csrf", "c" * 32)
        return c


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    services = build_services(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "art"))
    assert services.identities is not None
    services.auth.required = True
    svc = IdentityService(services.identities)
    svc.create_user("root", PASSWORD)
    svc.grant("root", "*", Role.ADMIN)
    svc.create_user("vera", PASSWORD)
    svc.grant("vera", "default", Role.VIEWER)
    svc.grant("vera", "team-a", Role.EDITOR)
    ws = SqlWorkspaceStore(services.store.engine)  # type: ignore[attr-defined]
    ws.create("team-a")
    ws.create("team-b")
    yield Env(services, svc, tmp_path)


CSRF = {"csrf": "c" * 32}


def test_header_shows_who_and_role_and_admin_links(env: Env) -> None:
    r = env.client("root").get("/ui/experiments")
    assert r.status_code == 200
    who = re.search(r'<span class="who" id="whoami">(.*?)</span>', r.text, re.S)
    assert who and "<b>root</b> · user · admin in default" in who.group(1)
    assert 'href="/ui/admin/users"' in r.text and 'href="/ui/audit"' in r.text
    assert "Sign out" in r.text
    assert all(f'<option value="{w}"' in r.text for w in ("default", "team-a", "team-b"))
    v = env.client("vera").get("/ui/experiments")
    assert "<b>vera</b> · user · viewer in default" in v.text
    assert 'href="/ui/admin/users"' not in v.text and 'href="/ui/audit"' not in v.text
    # vera sees only the workspaces she holds a role in.
    assert '<option value="team-a"' in v.text and '<option value="team-b"' not in v.text


def test_auth_off_is_local_no_auth(env: Env) -> None:
    env.services.auth.required = False
    r = env.client().get("/ui/experiments")
    assert r.status_code == 200 and "local (no auth)" in r.text
    assert 'href="/ui/admin/tokens"' in r.text  # anonymous holds every role


def test_password_sign_in_sets_a_session(env: Env) -> None:
    c = env.client()
    r = c.post("/ui/login", data={**CSRF, "username": "vera", "password": "wrong-pass"})
    assert r.status_code == 401
    r = c.post("/ui/login", data={**CSRF, "username": "vera", "password": PASSWORD,
                                  "next": "/ui/models"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/models"
    assert c.get("/ui/models").status_code == 200
    # Changing the password ends the session (the cookie is keyed with the hash).
    env.svc.set_password("vera", "another-pass-2")
    env.services.auth.invalidate()
    assert c.get("/ui/models").status_code == 303


def test_switch_workspace_scopes_role_and_store(env: Env) -> None:
    c = env.client("vera")
    r = c.post("/ui/workspace", data={**CSRF, "workspace": "team-a", "next": "/ui/models"})
    assert r.status_code == 303 and r.headers["location"] == "/ui/models"
    set_cookie = r.headers["set-cookie"]
    assert "loopml_workspace=team-a" in set_cookie and "HttpOnly" in set_cookie
    assert "samesite=lax" in set_cookie.lower()
    page = c.get("/ui/experiments")
    assert "editor in team-a" in page.text
    # Store scoping agrees with the role check: an experiment created in team-a is listed
    # there and not in default.
    from loopml.security.workspaces import use_workspace

    with use_workspace("team-a"):
        env.services.store.create_experiment("only-in-team-a")
    assert "only-in-team-a" in c.get("/ui/experiments").text
    c.post("/ui/workspace", data={**CSRF, "workspace": "default"})
    assert "only-in-team-a" not in c.get("/ui/experiments").text
    # The header wins over the cookie.
    c.post("/ui/workspace", data={**CSRF, "workspace": "team-a"})
    h = c.get("/ui/experiments", headers={"X-MLFLOW-WORKSPACE": "default"})
    assert "viewer in default" in h.text


def test_switch_refusals(env: Env) -> None:
    c = env.client("vera")
    assert c.post("/ui/workspace", data={"workspace": "team-a"}).status_code == 403  # CSRF
    r = c.post("/ui/workspace", data={**CSRF, "workspace": "team-b"})
    assert r.status_code == 403 and "no role in workspace" in r.text
    r = c.post("/ui/workspace", data={**CSRF, "workspace": "nope-ws"})
    assert r.status_code == 400 and "does not exist" in r.text
    r = c.post("/ui/workspace", data={**CSRF, "workspace": "Bad Name!"})
    assert r.status_code == 400 and "not valid" in r.text
    # A tampered cookie is ignored (default), never a 500.
    session = c.cookies["loopml_token"]
    r = c.get("/ui/experiments",
              headers={"Cookie": f"loopml_token={session}; loopml_csrf={'c' * 32}; "
                                      "loopml_workspace=Bad..Name"})
    assert r.status_code == 200 and "viewer in default" in r.text
    r = c.post("/ui/workspace", data={**CSRF, "workspace": "team-a", "next": "https://evil"})
    assert r.headers["location"] == "/ui/experiments"


def test_admin_users_page_and_forms(env: Env) -> None:
    c = env.client("root")
    r = c.get("/ui/admin/users")
    assert r.status_code == 200 and 'data-name="vera"' in r.text and "team-a: editor" in r.text
    assert c.post("/ui/admin/users/create", data={"name": "x1"}).status_code == 403  # CSRF
    r = c.post("/ui/admin/users/create", data={**CSRF, "kind": "service_account",
                                              "name": "trainer", "description": "jobs"})
    assert r.status_code == 303
    r = c.post("/ui/admin/users/create", data={**CSRF, "kind": "user", "name": "ann",
                                              "password": PASSWORD})
    assert r.status_code == 303
    r = c.post("/ui/admin/users/trainer/grant", data={**CSRF, "workspace": "team-b",
                                                     "role": "deployer"})
    assert r.status_code == 303
    assert env.svc.store.get_identity("trainer").roles == {"team-b": Role.DEPLOYER}
    page = c.get("/ui/admin/users").text
    assert 'data-name="trainer"' in page and "team-b: deployer" in page
    r = c.post("/ui/admin/users/trainer/grant", data={**CSRF, "workspace": "team-b",
                                                     "role": "emperor"})
    assert r.status_code == 400 and "Unknown role" in r.text
    assert c.post("/ui/admin/users/trainer/revoke",
                  data={**CSRF, "workspace": "team-b"}).status_code == 303
    assert env.svc.store.get_identity("trainer").roles == {}
    assert c.post("/ui/admin/users/ann/delete", data=CSRF).status_code == 303
    assert 'data-name="ann"' not in c.get("/ui/admin/users").text


def test_viewer_is_refused_admin_pages(env: Env) -> None:
    c = env.client("vera")
    for path in ("/ui/admin/users", "/ui/admin/tokens", "/ui/audit"):
        r = c.get(path)
        assert r.status_code == 403 and "admin" in r.text, path
    r = c.post("/ui/admin/users/create", data={**CSRF, "name": "evil"})
    assert r.status_code == 403
    r = c.post("/ui/admin/tokens/create", data={**CSRF, "owner": "root"})
    assert r.status_code == 403
    assert TestClient(create_app(env.services), base_url="http://localhost", follow_redirects=False).get(
        "/ui/admin/users").status_code == 303  # not signed in: to the login page


def test_admin_tokens_secret_shown_once_and_revoke(env: Env) -> None:
    c = env.client("root")
    assert c.post("/ui/admin/tokens/create", data={"owner": "vera"}).status_code == 403
    r = c.post("/ui/admin/tokens/create", data={**CSRF, "owner": "vera", "name": "ci",
                                               "workspace": "team-a", "expires_days": "7"})
    assert r.status_code == 201
    secret = re.search(r'<code id="token-secret">([^<]+)</code>', r.text)
    assert secret and secret.group(1).startswith("lml_")
    listing = c.get("/ui/admin/tokens").text
    assert secret.group(1) not in listing and "token-secret" not in listing
    (tok,) = env.svc.store.list_tokens("vera")
    assert tok.workspace == "team-a" and tok.role is Role.EDITOR and tok.expires_time
    assert f'data-token="{tok.token_id}"' in listing
    # The secret works against the API until revoked.
    api = TestClient(create_app(env.services), base_url="http://localhost")
    hdr = {"Authorization": f"Bearer {secret.group(1)}", "X-MLFLOW-WORKSPACE": "team-a"}
    assert api.get("/api/2.0/mlflow/experiments/search?max_results=5",
                   headers=hdr).status_code == 200
    assert c.post(f"/ui/admin/tokens/{tok.token_id}/revoke", data={}).status_code == 403
    assert c.post(f"/ui/admin/tokens/{tok.token_id}/revoke", data=CSRF).status_code == 303
    assert env.svc.store.get_token(tok.token_id).revoked_time is not None
    assert api.get("/api/2.0/mlflow/experiments/search?max_results=5",
                   headers=hdr).status_code == 401
    r = c.post("/ui/admin/tokens/create", data={**CSRF, "owner": "vera", "role": "admin"})
    assert r.status_code == 400 and "cannot exceed" in r.text
    r = c.post("/ui/admin/tokens/create", data={**CSRF, "owner": "vera", "expires_days": "x"})
    assert r.status_code == 400 and "number of days" in r.text


def test_self_service_tokens(env: Env) -> None:
    c = env.client("vera")
    r = c.get("/ui/me/tokens")
    assert r.status_code == 200 and "My API tokens (vera)" in r.text
    assert c.post("/ui/me/tokens/create", data={"name": "laptop"}).status_code == 403
    r = c.post("/ui/me/tokens/create", data={**CSRF, "name": "laptop", "owner": "root"})
    assert r.status_code == 201 and "token-secret" in r.text
    (tok,) = env.svc.store.list_tokens("vera")  # owner is always the signed-in user
    assert tok.owner == "vera" and tok.workspace == "default" and tok.role is Role.VIEWER
    other = env.svc.issue_token("root", "default").record
    r = c.post(f"/ui/me/tokens/{other.token_id}/revoke", data=CSRF)
    assert r.status_code == 403
    assert c.post(f"/ui/me/tokens/{tok.token_id}/revoke", data=CSRF).status_code == 303
    assert env.svc.store.get_token(tok.token_id).revoked_time is not None


def test_browser_sign_in_switch_and_create_token(tmp_path: Path, browser: Any) -> None:
    """Chromium: sign in with a password, see your name, switch workspace, create a token
    (its secret shown once)."""
    from loopml.store import get_store
    from loopml.store.identities_sql import SqlIdentityStore
    from tests.server.conftest import start_server

    srv = start_server(tmp_path / "srv", token="s3cret")
    try:
        engine = get_store(f"sqlite:///{tmp_path / 'srv' / 'db.sqlite'}").engine  # type: ignore[attr-defined]
        svc = IdentityService(SqlIdentityStore(engine))
        svc.create_user("ann", PASSWORD)
        svc.grant("ann", "default", Role.VIEWER)
        svc.grant("ann", "team-a", Role.EDITOR)
        SqlWorkspaceStore(engine).create("team-a")
        ctx = browser.new_context()
        page = ctx.new_page()
        page.goto(f"{srv.url}/ui/experiments")
        assert "/ui/login" in page.url
        page.fill("input[name=username]", "ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("main form button")
        assert page.url.endswith("/ui/experiments")
        assert "ann · user · viewer in default" in page.inner_text("#whoami")
        page.select_option("#workspace-switch select[name=workspace]", "team-a")
        page.click("#workspace-switch button")
        assert "ann · user · editor in team-a" in page.inner_text("#whoami")
        page.click("#nav-my-tokens")
        page.fill("#create-token input[name=name]", "laptop")
        page.click("#create-token button")
        secret = page.inner_text("#token-secret")
        assert secret.startswith("lml_")
        assert "laptop" in page.inner_text("#tokens") and "team-a" in page.inner_text("#tokens")
        page.goto(f"{srv.url}/ui/me/tokens")
        assert page.locator("#token-secret").count() == 0  # shown once
        ctx.close()
    finally:
        srv.stop()


def test_workspace_rule_is_shared() -> None:
    """``workspace_for``: the header, else the cookie on /ui paths only, else default; the
    role check (``request_workspace``) gives the same answer."""
    from starlette.datastructures import Headers

    from loopml.security import request_workspace
    from loopml.security.workspaces import workspace_for

    cookie = {"cookie": "loopml_workspace=team-a"}
    cases = [({}, "/ui/models", "default"), (cookie, "/ui/models", "team-a"),
             (cookie, "/api/2.0/mlflow/experiments/search", "default"),
             ({**cookie, "x-mlflow-workspace": "team-b"}, "/ui/models", "team-b"),
             ({"cookie": "loopml_workspace=NOT_VALID"}, "/ui/models", "default")]
    for raw, path, want in cases:
        h = Headers(raw)
        assert workspace_for(h, path) == want == request_workspace(h, path), (raw, path)


def test_session_verifier_refuses_tampering_and_expiry(env: Env) -> None:
    from loopml.errors import Unauthenticated
    from loopml.security._sessions import SessionVerifier

    ident = env.svc.store.get_identity("vera")
    v = SessionVerifier(env.svc.store)
    good = new_session(ident, 60)
    p = v.verify("bearer", good)
    assert p is not None and p.subject == "vera" and p.via == "password"
    assert v.verify("bearer", "lml_x_y") is None and v.verify("basic", good) is None
    forged = good.replace("dmVyYQ", "cm9vdA")  # vera -> root, same mac
    expired = new_session(ident, 60, clock=lambda: 0.0)
    for bad in (forged, expired, "lms.x", good[:-2] + "00"):
        with pytest.raises(Unauthenticated):
            v.verify("bearer", bad)


def test_workspace_cookie_is_secure_behind_a_trusted_tls_proxy(env: Env) -> None:
    env.services.trust_proxy = True
    c = env.client("vera")
    r = c.post("/ui/workspace", data={**CSRF, "workspace": "team-a"},
               headers={"X-Forwarded-Proto": "https"})
    assert r.status_code == 303 and "secure" in r.headers["set-cookie"].lower()
    env.services.trust_proxy = False
    r = c.post("/ui/workspace", data={**CSRF, "workspace": "team-a"},
               headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in r.headers["set-cookie"].lower()
    # Signing out forgets the workspace too.
    out = c.post("/ui/logout", data=CSRF).headers.get_list("set-cookie")
    assert any(h.startswith('loopml_workspace=""') or h.startswith("loopml_workspace=;")
               for h in out), out
