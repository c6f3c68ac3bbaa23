"""``loopml users|service-accounts|tokens`` against the local store (in-process runner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app


@pytest.fixture
def run(embedded_home):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(app, list(args), input=input)

    return invoke


def test_users_service_accounts_and_tokens(run) -> None:  # type: ignore[no-untyped-def]
    r = run("users", "create", "ann", "--workspace", "default", "--role", "approver",
            input="ann-password\nann-password\n")  # prompted, hidden, confirmed
    assert r.exit_code == 0, r.output
    assert run("service-accounts", "create", "trainer", "--workspace", "default").exit_code == 0
    listed = json.loads(run("users", "list", "--json").stdout)
    assert listed[0]["name"] == "ann" and listed[0]["roles"] == {"default": "approver"}
    assert "password" not in json.dumps(listed).replace("has_password", "")
    r = run("tokens", "create", "trainer", "--name", "ci", "--expires-in", "3600")
    assert r.exit_code == 0 and r.stdout.strip().startswith("lml_")
    token_id = json.loads(run("tokens", "list", "--json").stdout)[0]["token_id"]
    r = run("tokens", "rotate", token_id)
    assert r.exit_code == 0 and r.stdout.strip().startswith("lml_")
    tokens = json.loads(run("tokens", "list", "--owner", "trainer", "--json").stdout)
    assert sorted(bool(t["revoked_time"]) for t in tokens) == [False, True]
    new_id = next(t["token_id"] for t in tokens if not t["revoked_time"])
    assert run("tokens", "revoke", new_id).exit_code == 0
    assert run("users", "grant", "trainer", "--workspace", "team-b", "--role", "viewer") \
        .exit_code == 0
    assert run("users", "revoke", "trainer", "--workspace", "team-b").exit_code == 0
    assert run("users", "set-password", "ann", "--password", "other-password").exit_code == 0
    assert run("service-accounts", "delete", "trainer").exit_code == 0
    assert run("users", "delete", "ann").exit_code == 0
    assert json.loads(run("users", "list", "--json").stdout) == []


def test_bad_input_exits_2_with_a_message(run) -> None:  # type: ignore[no-untyped-def]
    run("service-accounts", "create", "job", "--workspace", "default", "--role", "editor")
    r = run("tokens", "create", "job", "--role", "admin")
    assert r.exit_code == 2 and "cannot exceed" in r.output
    r = run("users", "grant", "job", "--role", "boss")
    assert r.exit_code == 2 and "valid roles" in r.output
    r = run("users", "create", "bob", "--password", "short")
    assert r.exit_code == 2 and "at least 8" in r.output
    r = run("users", "delete", "nobody")
    assert r.exit_code != 0 and "nobody" in r.output
    r = run("users", "delete", "job")  # a service account, not a user
    assert r.exit_code == 2 and "service_account" in r.output
