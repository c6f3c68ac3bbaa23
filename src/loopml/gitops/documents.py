"""GitOps documents: one YAML file per object, validated all at once.

A document (``apiVersion: loopml/v1``) has a ``kind`` (``KINDS``), ``metadata`` (``name``,
``workspace``) and a ``spec`` whose model depends on the kind:

- ``Deployment``: ``routes`` (``model_uri``, ``weight``; percentages summing to 100),
  ``shadow``, ``sticky_header``, ``replicas``, ``env``;
- ``Schedule``: ``pipeline`` (module:attr), ``cron``, ``params``, ``executor``, ``enabled``;
- ``Trigger``: ``pipeline``, ``events`` (event types), ``subject`` (glob), ``params``,
  ``executor``, ``enabled``;
- ``Monitor``: a monitor spec (docs/monitoring.md) without its ``name``;
- ``LoopPolicy``: a loop policy (docs/loop.md) without its ``name``.

Secrets never appear in a document: a value under a key that names a secret (``secret``,
``password``, ``token``, ...) must be a ``${secret:NAME}`` (or ``${env:NAME}``) reference.
Files are written with sorted keys (``render``), so an export is byte-stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

API_VERSION = "loopml/v1"
KINDS = ("Deployment", "Monitor", "LoopPolicy", "Schedule", "Trigger")
FOLDERS = {"Deployment": "deployments", "Monitor": "monitors", "LoopPolicy": "policies",
           "Schedule": "schedules", "Trigger": "triggers"}
_SECRET_KEY = re.compile(r"secret|password|passwd|token|api_?key|credential", re.I)
_REF = re.compile(r"^\$\{(secret|env):[^}]+\}$")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,255}$"
_STRICT = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class Metadata(BaseModel):
    """The document's ``metadata``: ``name`` and ``workspace`` (default ``default``)."""

    model_config = _STRICT
    name: str = Field(pattern=_NAME)
    workspace: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_\-]{0,62}$")


class Envelope(BaseModel):
    """One YAML file of ``loopml apply``: ``apiVersion``, ``kind`` (one of ``KINDS``), ``metadata``, ``spec``."""

    model_config = _STRICT
    apiVersion: Literal["loopml/v1"]  # noqa: N815 - the Kubernetes-style key
    kind: Literal["Deployment", "Monitor", "LoopPolicy", "Schedule", "Trigger"]
    metadata: Metadata
    spec: dict[str, Any]


class RouteSpec(BaseModel):
    """A deployment route: a ``models:/`` URI and its traffic weight (>= 0)."""

    model_config = _STRICT
    model_uri: str = Field(min_length=1)
    weight: float = Field(ge=0)


class DeploymentSpec(BaseModel):
    """A Deployment's spec: routes, shadow URIs, sticky header, replicas (>= 1) and env (values may be ``${secret:NAME}``)."""

    model_config = _STRICT
    routes: list[RouteSpec] = Field(min_length=1)
    shadow: list[str] = Field(default_factory=list)
    sticky_header: str | None = None
    replicas: int = Field(default=1, ge=1)
    # Values may be ${secret:NAME} references: exported and applied as references.
    env: dict[str, str] = Field(default_factory=dict)


class ScheduleSpec(BaseModel):
    """A Schedule's spec: a registered pipeline ``module:name``, a cron expression and params."""

    model_config = _STRICT
    pipeline: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    cron: str
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = "inprocess"
    enabled: bool = True


class TriggerSpec(BaseModel):
    """A Trigger's spec: the pipeline run when a matching event arrives."""

    model_config = _STRICT
    pipeline: str = Field(pattern=r"^[\w.]+:[\w.]+$")
    events: list[str] = Field(min_length=1)
    subject: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    executor: str = "inprocess"
    enabled: bool = True


@dataclass(frozen=True)
class Doc:
    """One object: ``spec`` is canonical (what a store holding it would export)."""

    kind: str
    name: str
    workspace: str
    spec: dict[str, Any]
    source: str = ""  # the file it came from ("" for the store's side)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.name)

    def as_yaml(self) -> str:
        return render(self)


def render(doc: Doc) -> str:
    """The file text: sorted keys at every level, block style, UTF-8."""
    body = {"apiVersion": API_VERSION, "kind": doc.kind,
            "metadata": {"name": doc.name, "workspace": doc.workspace}, "spec": doc.spec}
    return yaml.safe_dump(body, sort_keys=True, default_flow_style=False, allow_unicode=True)


def file_name(doc: Doc) -> str:
    """``<folder>/<name>.yaml``; characters outside ``[A-Za-z0-9_.-]`` as ``%XX``."""
    safe = "".join(c if c.isalnum() or c in "_.-" else f"%{ord(c):02X}" for c in doc.name)
    return f"{FOLDERS[doc.kind]}/{safe}.yaml"


def _errors(e: ValidationError, where: str) -> list[str]:
    out = []
    for err in e.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(document)"
        out.append(f"{where}: {path}: {err['msg']}")
    return out


def plaintext_secrets(obj: Any, path: str = "spec") -> list[str]:
    """Key paths under ``obj`` whose key names a secret and whose value is not a
    ``${secret:NAME}`` / ``${env:NAME}`` reference."""
    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            p = f"{path}.{k}"
            if _SECRET_KEY.search(str(k)) and isinstance(v, str) and v and not _REF.match(v):
                out.append(p)
            else:
                out += plaintext_secrets(v, p)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += plaintext_secrets(v, f"{path}[{i}]")
    return out


def canonical(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The spec as stored and exported; raises ``ValidationError`` or ``LoopmlError``
    (from the kind's own validation) on a bad spec."""
    if kind == "Deployment":
        from loopml.entities import TrafficRoute
        from loopml.store.deployments_base import validate_spec

        d = DeploymentSpec.model_validate(spec)
        validate_spec(name, [TrafficRoute(r.model_uri, r.weight) for r in d.routes],
                      d.shadow, d.sticky_header)
        from loopml.store.deployments_base import validate_env

        validate_env(name, d.env)
        return d.model_dump()
    if kind in ("Schedule", "Trigger"):
        from loopml.pipelines.triggers import validate_trigger

        model = ScheduleSpec if kind == "Schedule" else TriggerSpec
        s = model.model_validate(spec)
        validate_trigger(to_trigger(kind, name, s.model_dump()))
        return s.model_dump()
    if kind == "Monitor":
        from loopml.monitoring.spec import MonitorSpec

        MonitorSpec.from_dict({**spec, "name": name}, f"Monitor {name!r}")
        return spec
    from loopml.automation.policy import Policy

    Policy.from_dict({**spec, "name": name}, f"LoopPolicy {name!r}")
    return spec


def to_trigger(kind: str, name: str, spec: dict[str, Any], marker: int = 0) -> Any:
    """The store's ``Trigger`` for a Schedule/Trigger spec."""
    from loopml.store.pipelines_base import Trigger

    if kind == "Schedule":
        return Trigger(name, spec["pipeline"], "cron", {"cron": spec["cron"]},
                       dict(spec.get("params") or {}), spec.get("executor", "inprocess"),
                       marker, bool(spec.get("enabled", True)))
    trig: dict[str, Any] = {"types": list(spec["events"])}
    if spec.get("subject"):
        trig["subject"] = spec["subject"]
    return Trigger(name, spec["pipeline"], "event", trig, dict(spec.get("params") or {}),
                   spec.get("executor", "inprocess"), marker, bool(spec.get("enabled", True)))


def parse(text: str, where: str) -> tuple[Doc | None, list[str]]:
    """One document from ``text``; (None, problems) when it is not valid."""
    from loopml.errors import LoopmlError

    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        return None, [f"{where}: not YAML: {str(e).splitlines()[0]}"]
    if not isinstance(raw, dict):
        return None, [f"{where}: expected one mapping with apiVersion, kind, metadata, spec"]
    try:
        env = Envelope.model_validate(raw)
    except ValidationError as e:
        return None, _errors(e, where)
    problems = [f"{where}: {p}: holds a plaintext secret; store it with `loopml secrets set "
                f"NAME` and write ${{secret:NAME}} here" for p in plaintext_secrets(env.spec)]
    try:
        spec = canonical(env.kind, env.metadata.name, env.spec)
    except ValidationError as e:
        return None, problems + _errors(e, f"{where}: spec")
    except LoopmlError as e:
        return None, problems + [f"{where}: {e.message}"]
    if problems:
        return None, problems
    return Doc(env.kind, env.metadata.name, env.metadata.workspace, spec, where), []


def load_dir(folder: str | Path) -> tuple[list[Doc], list[str]]:
    """Every ``*.yaml``/``*.yml`` under ``folder`` (sorted, hidden folders such as .git
    skipped): (documents, problems). Validation goes on past the first problem, so the
    caller sees them all; two files for one (kind, name) is a problem too."""
    root = Path(folder)
    if not root.is_dir():
        return [], [f"{folder}: not a folder"]
    docs: list[Doc] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    files = sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(root).parts))
    for path in files:
        where = str(path.relative_to(root))
        doc, errs = parse(path.read_text(encoding="utf-8"), where)
        problems += errs
        if doc is None:
            continue
        if doc.key in seen:
            problems.append(f"{where}: {doc.kind} {doc.name!r} is also defined in "
                            f"{seen[doc.key]}; keep one file per object")
            continue
        seen[doc.key] = where
        docs.append(doc)
    return docs, problems


__all__ = ["API_VERSION", "KINDS", "Doc", "Envelope", "canonical", "file_name", "load_dir", "parse",
           "plaintext_secrets", "render", "to_trigger"]
