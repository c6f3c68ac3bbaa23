"""What every schema module shares: one ``MetaData`` and the autoincrement key type."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite only autoincrements an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT identities.
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

__all__ = ["BigIntPK", "metadata"]
