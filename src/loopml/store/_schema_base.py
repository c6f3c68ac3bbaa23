"""What every schema module shares: one ``MetaData`` and the autoincrement key type."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT identities.
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")



def WS(primary_key: bool = False, length: int = 255) -> sa.Column:  # type: ignore[type-arg]
    """The ``workspace`` column of a table whose rows belong to one (``default`` unless
    stamped); part of the key where names are unique per workspace."""
    return sa.Column("workspace", sa.String(length), nullable=False, server_default="default",
                     primary_key=primary_key)


__all__ = ["WS", "BigIntPK", "metadata"]
