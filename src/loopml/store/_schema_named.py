"""Tables of the two registries whose entities are known by name, registered models
(migration 0002) and datasets (0012). Since migration 0013 a name is unique per workspace:
every table is keyed by ``(workspace, name, ...)`` and the children reference their parent by
both, so two workspaces may each register a model called ``churn``. Re-exported by
``store._schema``.
"""

from __future__ import annotations

import sqlalchemy as sa

from loopml.store._schema_base import WS, metadata


def _parent(table: str, *more: str) -> sa.ForeignKeyConstraint:
    cols = ["workspace", "name", *more]
    return sa.ForeignKeyConstraint(cols, [f"{table}.{c}" for c in cols], ondelete="CASCADE",
                                   onupdate="CASCADE")


# ---- model registry (migration 0002) ------------------------------------------------------
# Child tables reference the model with ON UPDATE CASCADE so a rename is one UPDATE.

registered_models = sa.Table(
    "registered_models",
    metadata,
    WS(primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_updated_time", sa.BigInteger, nullable=False),
    sa.Column("description", sa.Text),
    # Versions are numbered from this counter, never from max(version) + 1, so a deleted
    # version's number is never handed out again (a reused number would silently re-point
    # every URI and alias that named it).
    sa.Column("next_version", sa.Integer, nullable=False, server_default="1"),
)

registered_model_tags = sa.Table(
    "registered_model_tags",
    metadata,
    WS(primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    _parent("registered_models"),
)

model_versions = sa.Table(
    "model_versions",
    metadata,
    WS(primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_updated_time", sa.BigInteger, nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("user_id", sa.String(256)),
    sa.Column("current_stage", sa.String(20), nullable=False, server_default="None"),
    sa.Column("source", sa.String(2000), nullable=False),
    # Where the model's files are: ``source`` resolved (runs:/ and models:/ URIs expanded).
    sa.Column("storage_location", sa.String(2000), nullable=False),
    sa.Column("run_id", sa.String(32)),
    sa.Column("run_link", sa.String(500)),
    sa.Column("model_id", sa.String(64)),
    sa.Column("status", sa.String(20), nullable=False, server_default="READY"),
    sa.Column("status_message", sa.Text),
    # Set only through the loopml admin API, never from the model's own files: it lets the
    # loaders deserialise this version's pickle-based files.
    sa.Column("trusted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("ix_model_versions_run", "run_id"),
    _parent("registered_models"),
)

model_version_tags = sa.Table(
    "model_version_tags",
    metadata,
    WS(primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    _parent("model_versions", "version"),
)

registered_model_aliases = sa.Table(
    "registered_model_aliases",
    metadata,
    WS(primary_key=True),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("alias", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    _parent("registered_models"),
)

REGISTRY_TABLES = [
    registered_models, registered_model_tags, model_versions, model_version_tags,
    registered_model_aliases,
]

# ---- dataset registry (migration 0012) ----------------------------------------------------

# Named, versioned datasets. A version is one content digest of a name (registering the same
# content again returns the existing version); `source` is the URI with credentials masked
# (references such as ${env:NAME} kept), `schema`/`profile` are loopml's DataSchema/Profile
# JSON, `artifact_uri` the materialised Parquet copy when one was made.
dataset_names = sa.Table(
    "dataset_names",
    metadata,
    WS(primary_key=True, length=256),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_time", sa.BigInteger, nullable=False),
    sa.Column("updated_time", sa.BigInteger, nullable=False),
)

dataset_versions = sa.Table(
    "dataset_versions",
    metadata,
    WS(primary_key=True, length=256),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source", sa.Text, nullable=False, server_default=""),
    sa.Column("source_type", sa.String(36), nullable=False, server_default=""),
    sa.Column("schema", sa.Text, nullable=False, server_default="{}"),
    sa.Column("profile", sa.Text, nullable=False, server_default="{}"),
    sa.Column("num_rows", sa.BigInteger, nullable=True),
    sa.Column("artifact_uri", sa.Text, nullable=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("created_time", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("workspace", "name", "digest", name="uq_dataset_versions_ws_name_digest"),
    _parent("dataset_names"),
)

# version 0: a tag of the dataset (its name), otherwise of that version.
dataset_tags = sa.Table(
    "dataset_tags",
    metadata,
    WS(primary_key=True, length=256),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    _parent("dataset_names"),
)

dataset_aliases = sa.Table(
    "dataset_aliases",
    metadata,
    WS(primary_key=True, length=256),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("alias", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
    _parent("dataset_names"),
)

# Which runs, pipeline runs and model versions read (role "input") or wrote ("output") a
# version. Runs that logged the digest as an MLflow input are found through
# run_dataset_inputs as well, without a row here.
dataset_lineage = sa.Table(
    "dataset_lineage",
    metadata,
    WS(primary_key=True, length=256),
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),  # run | pipeline_run | model_version
    sa.Column("ref", sa.String(500), primary_key=True),
    sa.Column("role", sa.String(16), primary_key=True),  # input | output
    sa.Column("created_time", sa.BigInteger, nullable=False),
    _parent("dataset_names"),
)

DATASET_TABLES = [dataset_names, dataset_versions, dataset_tags, dataset_aliases,
                  dataset_lineage]
