"""Tables of identities, credentials, workspaces, quotas, secrets and the audit trail
(``loopml.security``; migrations 0009-0011). Re-exported by ``store._schema``, which the
stores read them from; kept apart so that each schema module holds one concern."""

from __future__ import annotations

import sqlalchemy as sa

from loopml.store._schema_base import BigIntPK, metadata

# ---- identities and credentials (migration 0009, issue 16) --------------------------------

# Users (local passwords: argon2id hashes) and service accounts. ``name`` is what tokens,
# bindings and audit records name; ``password_hash`` is NULL for service accounts and for
# users who sign in only through OIDC or tokens.
identities = sa.Table(
    "identities",
    metadata,
    sa.Column("identity_id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(255), nullable=False, unique=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("password_hash", sa.String(512), nullable=True),
    sa.Column("description", sa.String(1000), nullable=False, server_default=""),
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

# One role per identity and workspace ("*": every workspace).
role_bindings = sa.Table(
    "role_bindings",
    metadata,
    sa.Column("identity_id", sa.BigInteger, primary_key=True),
    sa.Column("workspace", sa.String(255), primary_key=True),
    sa.Column("role", sa.String(32), nullable=False),
)

# API tokens: ``lml_<token_id>_<secret>``; only sha256(secret) is kept, looked up by the
# public ``token_id``. Scoped to one workspace (or "*") and a role no higher than the
# owner's there (checked again at each verification).
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.String(32), primary_key=True),
    sa.Column("identity_id", sa.BigInteger, nullable=False),
    sa.Column("name", sa.String(255), nullable=False, server_default=""),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("workspace", sa.String(255), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("created_time", sa.BigInteger, nullable=False),
    sa.Column("expires_time", sa.BigInteger, nullable=True),
    sa.Column("revoked_time", sa.BigInteger, nullable=True),
    sa.Index("ix_api_tokens_identity", "identity_id"),
)

IDENTITY_TABLES = [identities, role_bindings, api_tokens]
# ---- workspaces, quotas and secrets (migration 0011) --------------------------------------

# Workspaces other than ``default`` (which always exists and has no row unless it was given
# a description or an artifact root). Names follow MLflow's rule (Kubernetes DNS labels).
workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("name", sa.String(63), primary_key=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("artifact_root", sa.String(2000), nullable=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_updated_time", sa.BigInteger, nullable=False),
)

# One row per (workspace, quota) an admin set; no row means unlimited. Inserts that count
# against a quota read (and on PostgreSQL lock) this row in their own transaction.
workspace_quotas = sa.Table(
    "workspace_quotas",
    metadata,
    sa.Column("workspace", sa.String(255), primary_key=True),
    sa.Column("quota", sa.String(64), primary_key=True),
    sa.Column("limit_value", sa.BigInteger, nullable=False),
    sa.Column("updated_time", sa.BigInteger, nullable=False),
)

# Metered usage that no table counts: bytes of artifacts uploaded through the server, added
# at each upload (in the transaction that checks the quota) and never given back on delete.
workspace_usage = sa.Table(
    "workspace_usage",
    metadata,
    sa.Column("workspace", sa.String(255), primary_key=True),
    sa.Column("quota", sa.String(64), primary_key=True),
    sa.Column("used", sa.BigInteger, nullable=False, server_default="0"),
)

# Built-in secrets backend: every version of every secret, AES-GCM encrypted. The nonce is
# the first 12 bytes of ``ciphertext``; the associated data binds it to its row
# (workspace, name, version), so a ciphertext copied onto another row fails to decrypt.
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("workspace", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

# Which service accounts may read a secret's value (admins always may).
secret_grants = sa.Table(
    "secret_grants",
    metadata,
    sa.Column("workspace", sa.String(255), primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("subject", sa.String(256), primary_key=True),
)

TENANCY_TABLES = [workspaces, workspace_quotas, workspace_usage, secrets, secret_grants]
# ---- audit trail (migration 0010) ---------------------------------------------------------
# Append-only and hash-chained (security/audit.py): ``seq`` is assigned by the writer under a
# lock, not autoincremented, because each row's hash covers its seq and the previous hash.

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", BigIntPK, primary_key=True, autoincrement=False),
    sa.Column("time", sa.BigInteger, nullable=False),  # ms since the epoch
    sa.Column("actor", sa.String(256), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("via", sa.String(32), nullable=False),
    sa.Column("workspace", sa.String(255), nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("target", sa.String(1000), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("request_id", sa.String(64), nullable=False),
    sa.Column("client", sa.String(100), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_actor_seq", "actor", "seq"),
    sa.Index("ix_audit_log_time", "time"),
)

__all__ = ["IDENTITY_TABLES", "TENANCY_TABLES", "api_tokens", "audit_log", "identities", "role_bindings", "secret_grants", "secrets", "workspace_quotas", "workspace_usage", "workspaces"]
