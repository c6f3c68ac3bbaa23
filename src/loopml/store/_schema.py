"""Table definitions (SQLAlchemy Core). The Alembic migrations create exactly these tables.

Design notes:
- ``metrics`` is append-only with an integer surrogate key: bulk inserts stay cheap, two
  points with the same (key, step, timestamp) but different values are both kept, and an
  identical point logged twice is stored once (MLflow's rule).
- ``latest_metrics`` holds one row per (run, key) so search and run listing never scan the
  history. It is upserted in the same transaction as the history insert.
- Metric values: SQLite stores NaN as NULL and drops the sign of -0.0, so ``value`` holds the
  number (NULL for NaN) and ``value_kind`` records what the float cannot: 0 plain, 1 NaN,
  2 negative zero. +Inf/-Inf are stored natively by both engines. The unique index of
  ``metrics`` keys on ``COALESCE(value, 0)`` so that NaN points de-duplicate too.
"""

from __future__ import annotations

import sqlalchemy as sa

from loopml.store._schema_base import WS, BigIntPK, metadata
from loopml.store._schema_ha import (  # noqa: F401 - re-exported: stores read t.<table>
    HA_TABLES,
    config_objects,
    leader_leases,
)
from loopml.store._schema_labeling import (  # noqa: F401 - re-exported: stores read t.<table>
    LABELING_TABLES,
    labeling_records,
)
from loopml.store._schema_named import (  # noqa: F401 - re-exported: stores read t.<table>
    DATASET_TABLES,
    REGISTRY_TABLES,
    dataset_aliases,
    dataset_lineage,
    dataset_names,
    dataset_tags,
    dataset_versions,
    model_version_tags,
    model_versions,
    registered_model_aliases,
    registered_model_tags,
    registered_models,
)
from loopml.store._schema_security import (  # noqa: F401 - re-exported: stores read t.<table>
    IDENTITY_TABLES,
    TENANCY_TABLES,
    api_tokens,
    audit_log,
    identities,
    role_bindings,
    secret_grants,
    secrets,
    workspace_quotas,
    workspace_usage,
    workspaces,
)

VALUE_PLAIN = 0
VALUE_NAN = 1
VALUE_NEG_ZERO = 2

experiments = sa.Table(
    "experiments",
    metadata,
    sa.Column("experiment_id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("artifact_location", sa.String(2000), nullable=False),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_update_time", sa.BigInteger, nullable=False),
    sa.Column("workspace", sa.String(255), nullable=False, server_default="default"),
    # Names are unique per workspace (migration 0013), as in MLflow with workspaces.
    sa.UniqueConstraint("workspace", "name", name="uq_experiments_workspace_name"),
)

experiment_tags = sa.Table(
    "experiment_tags",
    metadata,
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("run_uuid", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(250), nullable=False),
    sa.Column("user_id", sa.String(256), nullable=False, server_default=""),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("start_time", sa.BigInteger),
    sa.Column("end_time", sa.BigInteger),
    sa.Column("deleted_time", sa.BigInteger),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
    sa.Column("artifact_uri", sa.String(2000), nullable=False),
    sa.Index("ix_runs_experiment_start", "experiment_id", "start_time"),
    sa.Index("ix_runs_lifecycle_deleted", "lifecycle_stage", "deleted_time"),
)

metrics = sa.Table(
    "metrics",
    metadata,
    sa.Column("id", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column(
        "run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("key", sa.String(250), nullable=False),
    sa.Column("value", sa.Float(precision=53)),
    sa.Column("value_kind", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
)
# Unique on the whole point: re-logging an identical point is a no-op, as in MLflow (whose
# client re-logs a run's metrics when it links them to a logged model, and retries a batch
# after a timeout). Also serves history reads, ordered by (step, timestamp). NaN is stored as
# NULL, and a unique index never finds two NULLs equal, so the index keys on
# COALESCE(value, 0): value_kind already tells NaN (1) from 0 (0) and -0.0 (2). Revision 0007.
ux_metrics_point = sa.Index(
    "ux_metrics_point_v2", metrics.c.run_uuid, metrics.c.key, metrics.c.step,
    metrics.c.timestamp, metrics.c.value_kind, sa.func.coalesce(metrics.c.value, 0.0),
    unique=True,
)

latest_metrics = sa.Table(
    "latest_metrics",
    metadata,
    sa.Column(
        "run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Float(precision=53)),
    sa.Column("value_kind", sa.SmallInteger, nullable=False, server_default="0"),
    sa.Column("timestamp", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_latest_metrics_key_value", "key", "value"),
)

params = sa.Table(
    "params",
    metadata,
    sa.Column(
        "run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

tags = sa.Table(
    "tags",
    metadata,
    sa.Column(
        "run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

datasets = sa.Table(
    "datasets",
    metadata,
    sa.Column("dataset_uuid", sa.String(32), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("source_type", sa.String(36), nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("schema", sa.Text),
    sa.Column("profile", sa.Text),
    sa.UniqueConstraint("experiment_id", "name", "digest", name="uq_datasets_exp_name_digest"),
)

run_dataset_inputs = sa.Table(
    "run_dataset_inputs",
    metadata,
    sa.Column(
        "run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column(
        "dataset_uuid",
        sa.String(32),
        sa.ForeignKey("datasets.dataset_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    # JSON object {key: value} of input tags (e.g. mlflow.data.context=train).
    sa.Column("tags", sa.Text, nullable=False, server_default="{}"),
)

logged_models = sa.Table(
    "logged_models",
    metadata,
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column(
        "experiment_id",
        sa.BigInteger,
        sa.ForeignKey("experiments.experiment_id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("artifact_location", sa.String(2000), nullable=False),
    sa.Column("creation_timestamp", sa.BigInteger, nullable=False),
    sa.Column("last_updated_timestamp", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(40), nullable=False),
    sa.Column("status_message", sa.Text),
    sa.Column("model_type", sa.String(500)),
    sa.Column("source_run_id", sa.String(32)),
    sa.Column("lifecycle_stage", sa.String(32), nullable=False, server_default="active"),
    sa.Index("ix_logged_models_experiment", "experiment_id", "creation_timestamp"),
)

logged_model_tags = sa.Table(
    "logged_model_tags",
    metadata,
    sa.Column(
        "model_id", sa.String(64), sa.ForeignKey("logged_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

logged_model_params = sa.Table(
    "logged_model_params",
    metadata,
    sa.Column(
        "model_id", sa.String(64), sa.ForeignKey("logged_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# MLflow 3: a metric logged with a model_id is a run metric and also the model's (its
# LoggedModel.data.metrics). A NULL value is NaN (SQLite stores NaN as NULL).
logged_model_metrics = sa.Table(
    "logged_model_metrics",
    metadata,
    sa.Column(
        "model_id", sa.String(64), sa.ForeignKey("logged_models.model_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(250), primary_key=True),
    sa.Column("timestamp", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("step", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("run_id", sa.String(64), primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("dataset_name", sa.String(500)),
    sa.Column("dataset_digest", sa.String(64)),
)

# Run <-> logged model links: direction "input" (the run consumed the model) or "output".
run_model_links = sa.Table(
    "run_model_links",
    metadata,
    sa.Column(
        "run_uuid", sa.String(32), sa.ForeignKey("runs.run_uuid", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("model_id", sa.String(64), primary_key=True),
    sa.Column("direction", sa.String(8), primary_key=True),
    sa.Column("step", sa.BigInteger, nullable=False, server_default="0"),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("type", sa.String(100), nullable=False),
    sa.Column("subject", sa.String(500), nullable=False),
    sa.Column("payload", sa.Text, nullable=False, server_default="{}"),
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Column("workspace", sa.String(255), nullable=False, server_default="default"),
    # Who caused it (migration 0014; security/actor.py).
    sa.Column("actor", sa.String(255), nullable=True),
    sa.Column("actor_kind", sa.String(32), nullable=True),
    sa.Index("ix_events_type_seq", "type", "seq"),
)

# ---- deployments (migration 0003) ---------------------------------------------------------
deployments = sa.Table(
    "deployments",
    metadata,
    WS(primary_key=True),  # names are unique per workspace (migration 0013)
    sa.Column("name", sa.String(256), primary_key=True),
    # JSON: {"routes": [{"model_uri", "weight"}], "shadow": [uri], "sticky_header": str|null}
    sa.Column("spec", sa.Text, nullable=False),
    # Bumped on every change: servers poll it and apply a new spec without a restart.
    sa.Column("revision", sa.Integer, nullable=False, server_default="1"),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("last_updated_time", sa.BigInteger, nullable=False),
    # Also in ``spec``; a column so that the replicas quota sums it (migration 0013).
    sa.Column("replicas", sa.Integer, nullable=False, server_default="1"),
)

DEPLOYMENT_TABLES = [deployments]

# ---- monitoring (migration 0004) ----------------------------------------------------------
# Ground truth, keyed by the request id every inference response carries (x-request-id).
feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("request_id", sa.String(128), primary_key=True),
    sa.Column("label", sa.Text, nullable=False),  # JSON: a number, a string, or a list
    sa.Column("time", sa.BigInteger, nullable=False),
    sa.Column("workspace", sa.String(255), nullable=False, server_default="default"),
)

# One row per (monitor, window): the primary key is what makes re-running a window a no-op.
monitor_results = sa.Table(
    "monitor_results",
    metadata,
    WS(primary_key=True),  # a monitor's results are its workspace's (migration 0013)
    sa.Column("monitor", sa.String(256), primary_key=True),
    sa.Column("window_start", sa.BigInteger, primary_key=True),  # ms since the epoch
    sa.Column("window_end", sa.BigInteger, nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),  # JSON {name: number}
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),  # JSON drift report ...
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

MONITORING_TABLES = [feedback, monitor_results]

# ---- pipelines (migration 0005) -----------------------------------------------------------
# A pipeline run's id is its own (uuid hex); ``tracking_run_id`` is the MLflow-style run that
# holds its step outputs as artifacts and parents the runs its steps log to.
pipeline_runs = sa.Table(
    "pipeline_runs",
    metadata,
    sa.Column("run_id", sa.String(32), primary_key=True),
    sa.Column("pipeline", sa.String(256), nullable=False),
    sa.Column("ref", sa.String(1000), nullable=False),  # module:attr, for resume and triggers
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),  # JSON
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("executor", sa.String(256), nullable=False, server_default="inprocess"),
    sa.Column("trigger", sa.Text, nullable=False, server_default="{}"),  # JSON {kind, ...}
    sa.Column("tracking_run_id", sa.String(32), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("attempt", sa.Integer, nullable=False, server_default="1"),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
    sa.Column("start_time", sa.BigInteger, nullable=True),
    sa.Column("end_time", sa.BigInteger, nullable=True),
    sa.Column("workspace", sa.String(255), nullable=False, server_default="default"),
    # Cores and GPUs the run asked for (its largest step's), counted by the cpus and gpus
    # quotas while it is PENDING or RUNNING (migration 0013).
    sa.Column("cpus", sa.Float, nullable=False, server_default="0"),
    sa.Column("gpus", sa.Float, nullable=False, server_default="0"),
    sa.Index("ix_pipeline_runs_pipeline_time", "pipeline", "creation_time"),
    sa.Index("ix_pipeline_runs_status", "status"),
)

step_runs = sa.Table(
    "step_runs",
    metadata,
    sa.Column("run_id", sa.String(32), sa.ForeignKey("pipeline_runs.run_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("step", sa.String(256), primary_key=True),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cache_key", sa.String(64), nullable=True),
    sa.Column("cached_from", sa.String(32), nullable=True),  # the pipeline run that computed it
    sa.Column("inputs", sa.Text, nullable=False, server_default="{}"),  # JSON {name: ref}
    sa.Column("outputs", sa.Text, nullable=False, server_default="{}"),  # JSON {name: ref}
    sa.Column("tracking_run_id", sa.String(32), nullable=True),
    sa.Column("log_uri", sa.String(2000), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("start_time", sa.BigInteger, nullable=True),
    sa.Column("end_time", sa.BigInteger, nullable=True),
)

# Cache index: a step's key (code, inputs, parameters) -> the outputs a finished run stored.
step_cache = sa.Table(
    "step_cache",
    metadata,
    # A cache hit never crosses workspaces: it would hand one team another's outputs.
    WS(primary_key=True),
    sa.Column("cache_key", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(32), nullable=False),
    sa.Column("step", sa.String(256), nullable=False),
    sa.Column("outputs", sa.Text, nullable=False),
    sa.Column("created_time", sa.BigInteger, nullable=False),
)

# Cron schedules and event triggers. ``marker`` is the next fire time (cron, ms) or the last
# consumed event sequence (event); firing moves it with a compare-and-set in the same
# transaction that records the pending run, so a trigger fires once even with two servers.
pipeline_triggers = sa.Table(
    "pipeline_triggers",
    metadata,
    WS(primary_key=True),  # names are unique per workspace (migration 0013)
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("ref", sa.String(1000), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # cron | event
    sa.Column("spec", sa.Text, nullable=False),  # JSON {cron} or {types, subject}
    sa.Column("params", sa.Text, nullable=False, server_default="{}"),
    sa.Column("executor", sa.String(256), nullable=False, server_default="inprocess"),
    sa.Column("marker", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("creation_time", sa.BigInteger, nullable=False),
)

PIPELINE_TABLES = [pipeline_runs, step_runs, step_cache, pipeline_triggers]

# ---- closed loop (migration 0006) ---------------------------------------------------------
# One row per retrain -> evaluate -> gate -> canary -> promote/rollback cycle of a model.
loops = sa.Table(
    "loops",
    metadata,
    sa.Column("loop_id", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("policy", sa.String(256), nullable=False),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("trigger", sa.Text, nullable=False, server_default="{}"),
    sa.Column("champion_version", sa.Integer, nullable=True),
    sa.Column("challenger_version", sa.Integer, nullable=True),
    sa.Column("pipeline_run_id", sa.String(32), nullable=True),
    sa.Column("evaluation", sa.Text, nullable=False, server_default="{}"),
    sa.Column("gate", sa.Text, nullable=False, server_default="{}"),
    sa.Column("canary", sa.Text, nullable=False, server_default="{}"),
    sa.Column("decision", sa.String(32), nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("dry_run", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("approved_by", sa.String(256), nullable=True),
    sa.Column("created_time", sa.BigInteger, nullable=False),
    sa.Column("updated_time", sa.BigInteger, nullable=False),
    sa.Column("workspace", sa.String(255), nullable=False, server_default="default"),
    sa.Index("ix_loops_model_created", "model", "created_time"),
)

# At most one unfinished loop per model: the primary key is the guarantee (never two
# canaries for one model), inserted with the loop and deleted when it ends.
loop_active = sa.Table(
    "loop_active",
    metadata,
    WS(primary_key=True),  # model names are per workspace (migration 0013)
    sa.Column("model", sa.String(256), primary_key=True),
    sa.Column("loop_id", sa.String(32), nullable=False),
)

# The audit log: every decision with the inputs it was taken on.
loop_audit = sa.Table(
    "loop_audit",
    metadata,
    sa.Column("seq", BigIntPK, primary_key=True, autoincrement=True),
    sa.Column("loop_id", sa.String(32), nullable=True),
    sa.Column("model", sa.String(256), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("inputs", sa.Text, nullable=False, server_default="{}"),
    sa.Column("time", sa.BigInteger, nullable=False),
    WS(),
    sa.Column("actor", sa.String(255), nullable=True),  # migration 0014
    sa.Column("actor_kind", sa.String(32), nullable=True),
    sa.Index("ix_loop_audit_model_seq", "model", "seq"),
)

# Event-log cursors of consumers (the loop controller), moved by compare-and-set.
consumer_cursors = sa.Table(
    "consumer_cursors",
    metadata,
    WS(primary_key=True),  # a controller bound to one workspace keeps its own cursor
    sa.Column("name", sa.String(256), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
)

LOOP_TABLES = [loops, loop_active, loop_audit, consumer_cursors]

# ---- alert state (migration 0008) ---------------------------------------------------------

# Where each alert rule stands per monitor and subject, so any process (a restarted server,
# the next `loopml monitor run`) continues it: it neither fires again what is firing nor
# forgets to resolve it. Moved by compare-and-set on last_window.
alert_states = sa.Table(
    "alert_states",
    metadata,
    WS(primary_key=True),  # a monitor's alert states are its workspace's (migration 0013)
    sa.Column("monitor", sa.String(256), primary_key=True),
    sa.Column("rule", sa.String(256), primary_key=True),
    sa.Column("subject", sa.String(500), primary_key=True),
    sa.Column("streak", sa.Integer, nullable=False, server_default="0"),
    sa.Column("firing", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("last_window", sa.BigInteger, nullable=True),  # ms: the last window observed
    sa.Column("updated_time", sa.BigInteger, nullable=False),
)

ALERT_TABLES = [alert_states]
