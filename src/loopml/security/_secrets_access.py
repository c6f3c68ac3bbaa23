"""Who may read a secret's value: an admin of its workspace, or a service account the secret
was granted to (table ``secret_grants``). Listing names, writing and granting are admin
routes; only reading a value has this finer rule."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from loopml.errors import InvalidParameterValue
from loopml.security._principal import IdentityKind, Principal, Role
from loopml.security.secrets import check_name
from loopml.store import _schema as t

_G = t.secret_grants.c


def grant(engine: Engine, name: str, subject: str, workspace: str) -> None:
    """Let service account ``subject`` read ``name`` in ``workspace`` (idempotent).
    ``InvalidParameterValue`` when ``subject`` is not an existing service account: a grant
    to anyone else could never be used (users read values only as admins)."""
    check_name(name)
    with engine.begin() as conn:
        kind = conn.execute(sa.select(t.identities.c.kind).where(
            t.identities.c.name == subject)).scalar()
        if kind != IdentityKind.SERVICE_ACCOUNT.value:
            what = "no identity" if kind is None else "not a service account"
            raise InvalidParameterValue(
                f"{subject!r} is {what}: secrets are granted to service accounts; create one "
                f"with `loopml service-accounts create {subject}` or list them with "
                "`loopml service-accounts list`.")
        exists = conn.execute(sa.select(_G.subject).where(
            _G.workspace == workspace, _G.name == name, _G.subject == subject)).first()
        if exists is None:
            conn.execute(sa.insert(t.secret_grants).values(
                workspace=workspace, name=name, subject=subject))


def revoke(engine: Engine, name: str, subject: str, workspace: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(t.secret_grants).where(
            _G.workspace == workspace, _G.name == name, _G.subject == subject))


def grantees(engine: Engine, name: str, workspace: str) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(sa.select(_G.subject).where(
            _G.workspace == workspace, _G.name == name).order_by(_G.subject))]


def may_read(engine: Engine, who: Principal, name: str, workspace: str) -> bool:
    """Admins of ``workspace`` (and the anonymous principal of an auth-less server, which
    holds every role) may; a service account may when granted; no one else."""
    role = who.role_in(workspace)
    if role is not None and role >= Role.ADMIN:
        return True
    if who.kind is not IdentityKind.SERVICE_ACCOUNT:
        return False
    return who.subject in grantees(engine, name, workspace)
