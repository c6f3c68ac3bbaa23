"""Monitor specs: the one file format ``loopml monitor run`` and ``loopml server
--monitors`` read, validated when it is loaded.

The canonical layout is a YAML list of specs (docs/monitoring.md). Also accepted, because
each is unambiguous: a mapping ``{monitors: [...]}`` and a single spec (a mapping with a
``name``), read as a list of one. Anything else is an ``InvalidConfig`` naming the file and
the key path; an empty file is refused (zero monitors is never what was meant).

Two checks need the world outside the file (:func:`source_problems`): the profile and
schema files exist, and the deployment is known, as a deployment in the store or as a
partition of the inference log. ``loopml monitor run`` refuses to start without them;
``loopml server --monitors`` warns at start (a server usually starts before its first
deployment exists), and that monitor computes nothing until they exist.
"""

from __future__ import annotations

from dataclasses import field
from pathlib import Path
from typing import (
    Any,
    Literal,
    NotRequired,  # pydantic needs these before 3.12
)

from pydantic import field_validator, model_validator, with_config
from typing_extensions import TypedDict

from loopml._config import CONFIG, config_model, load_file, not_empty, suggest, validate
from loopml.errors import InvalidConfig
from loopml.monitoring.alerts import METRICS, AlertRule

__all__ = ["MonitorSpec", "MonitorsFile", "WebhookSpec", "check_sources", "load_specs",
           "source_problems"]


@with_config(CONFIG)
class WebhookSpec(TypedDict):
    """Where alert transitions are POSTed, signed with ``secret``; ``allow`` exempts
    internal hosts from the SSRF guard. ``url`` and ``secret`` may be (or hold)
    ``${secret:NAME}`` references, resolved at each delivery. Validated, then kept as a plain mapping (what the
    webhook code reads)."""

    url: str
    secret: str
    allow: NotRequired[list[str]]


@config_model
class MonitorSpec:
    """One monitor: a deployment's traffic in tumbling windows (``window_count`` requests,
    else ``window_seconds``), the profiles and schema it compares against, the ``task``
    for live quality, and alert ``rules`` over the metrics it computes."""

    name: str
    deployment: str
    log_dir: str
    # Profile JSON of the training features; or "champion" (the training profile logged with
    # the deployment's model at alias champion, followed as promotions move it), or
    # "models:/NAME@ALIAS" for that model's.
    reference_profile: str | None = None
    prediction_profile: str | None = None  # profile JSON of training-time predictions
    schema: str | None = None  # schema JSON of the training features
    window_seconds: int | None = 300
    window_count: int | None = None  # windows of N requests instead of N seconds
    task: Literal["classification", "regression"] | None = None  # for live quality
    rules: list[AlertRule] = field(default_factory=list)
    webhooks: list[WebhookSpec] = field(default_factory=list)
    # The workspace the monitor belongs to: its results, alert states and alert events are
    # that workspace's, and its deployment and model references are looked up there.
    workspace: str = "default"

    _named_keys = field_validator("name", "deployment", "log_dir")(not_empty)

    @field_validator("workspace")
    @classmethod
    def _workspace(cls, v: str) -> str:
        from loopml.security.workspaces import check_workspace_name

        try:
            return check_workspace_name(v)
        except Exception as e:  # pydantic wants a ValueError to name the key
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _consistent(self) -> MonitorSpec:
        for key in ("window_seconds", "window_count"):
            v = getattr(self, key)
            if v is not None and v < 1:
                raise ValueError(f"{key} must be at least 1, got {v}")
        names = [r.name for r in self.rules]
        if len(set(names)) != len(names):
            raise ValueError(f"two rules share a name in {names}; alert state is kept per rule")
        for i, r in enumerate(self.rules):
            need = METRICS[r.metric]
            if need is None:
                continue
            key, _, value = need.partition("=")
            have = getattr(self, key)
            if have is None or (value and have != value):
                want = f"task: {value}" if value else f"a {key}"
                raise ValueError(f"rules[{i}] ({r.name!r}) uses {r.metric}, which is only "
                                 f"computed with {want}; without it the rule never fires")
        return self

    @classmethod
    def from_dict(cls, d: Any, source: str = "monitor spec") -> MonitorSpec:
        return validate(cls, d, source)


@config_model
class MonitorsFile:
    """A monitors file after its layout is normalised: ``{monitors: [...]}``, unique names."""

    monitors: list[MonitorSpec]

    @model_validator(mode="after")
    def _unique(self) -> MonitorsFile:
        names = [(m.workspace, m.name) for m in self.monitors]
        if not names:
            raise ValueError("no monitors; give a list of monitor specs")
        dup = sorted({n for ws, n in names if names.count((ws, n)) > 1})
        if dup:
            raise ValueError("monitor names must be unique per workspace (results are keyed "
                             f"by workspace and name): {dup}")
        return self


def _layout(raw: Any) -> Any:
    """Map the accepted layouts onto ``{monitors: [...]}``."""
    if isinstance(raw, list):
        return {"monitors": raw}
    if isinstance(raw, dict) and "monitors" not in raw and "name" in raw:
        return {"monitors": [raw]}
    if raw is None:
        raise InvalidConfig("the file is empty; give a list of monitor specs")
    return raw


def load_specs(path: str | Path) -> list[MonitorSpec]:
    """The monitor specs in a YAML file, validated (``InvalidConfig`` otherwise)."""
    try:
        return load_file(path, MonitorsFile, normalize=_layout).monitors
    except InvalidConfig as e:
        if e.message.startswith(str(path)):
            raise
        raise InvalidConfig(f"{path}: {e.message}") from None


def source_problems(specs: list[MonitorSpec], deployments: list[str], source: str) -> list[str]:
    """Why monitors could never compute a window: a profile or schema file that does not
    exist, or a deployment that is neither in the store (``deployments``) nor a partition
    of the inference log under ``log_dir``. One message per monitor, at most."""
    out: list[str] = []
    for i, s in enumerate(specs):
        where = f"{source}: monitors[{i}]"
        missing = [k for k in ("reference_profile", "prediction_profile", "schema")
                   if getattr(s, k) is not None and not _follows_model(k, getattr(s, k))
                   and not Path(getattr(s, k)).is_file()]
        if missing:
            out.append(f"{where}.{missing[0]}: no such file {getattr(s, missing[0])!r}")
            continue
        logged = [p.name.removeprefix("deployment=")
                  for p in Path(s.log_dir).glob("deployment=*") if p.is_dir()]
        if s.deployment in deployments or s.deployment in logged:
            continue
        if not Path(s.log_dir).is_dir():
            out.append(f"{where}.log_dir: no folder {s.log_dir!r}, and no deployment "
                       f"{s.deployment!r} in the store: the monitor would never see a request")
        else:
            out.append(f"{where}.deployment: no deployment {s.deployment!r} in the store and no "
                       f"log of it under {s.log_dir!r}"
                       f"{suggest(s.deployment, [*deployments, *logged])}")
    return out


def _follows_model(key: str, value: str) -> bool:
    """A reference that is resolved from the registry at each pass, not a file."""
    return key == "reference_profile" and (value == "champion" or value.startswith("models:/"))


def check_sources(specs: list[MonitorSpec], deployments: list[str], source: str) -> None:
    """``source_problems`` as an ``InvalidConfig`` (the first problem), for ``loopml
    monitor run``, which runs now and would otherwise report "0 new windows" forever."""
    problems = source_problems(specs, deployments, source)
    if problems:
        raise InvalidConfig(problems[0])
