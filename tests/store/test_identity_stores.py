"""The identity store contract on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from loopml.store.identities_sql import SqlIdentityStore
from loopml.store.sql import SqlStore
from loopml.testing.identity_contract import IdentityStoreContract


class TestSqliteIdentities(IdentityStoreContract):
    @pytest.fixture
    def identities(self, tmp_path) -> Iterator[SqlIdentityStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
        yield SqlIdentityStore(s.engine)
        s.close()


@pytest.mark.postgres
class TestPostgresIdentities(IdentityStoreContract):
    @pytest.fixture
    def identities(self, postgres_uri, tmp_path) -> Iterator[SqlIdentityStore]:  # type: ignore[no-untyped-def]
        s = SqlStore(postgres_uri, str(tmp_path / "artifacts"))
        yield SqlIdentityStore(s.engine)
        s.close()


@pytest.mark.parametrize("bad", ["Team_A", "a.b", "_x", "api", "x" * 64, ""])
def test_roles_follow_the_workspace_naming_rule(bad: str) -> None:
    """A role bound to a name no workspace can have would grant nothing: refused, with the
    same rule the workspaces registry uses ('*' still means every workspace)."""
    from loopml.errors import InvalidParameterValue
    from loopml.store.identities_base import validate_workspace

    assert validate_workspace("*") == "*" and validate_workspace("team-a") == "team-a"
    with pytest.raises(InvalidParameterValue, match="Workspace name"):
        validate_workspace(bad)
