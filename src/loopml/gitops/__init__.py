"""GitOps delivery: deployments, monitors, loop policies, schedules and triggers as
declarative YAML files (one per object), reconciled into a store (docs/gitops.md)."""

from __future__ import annotations

from loopml.gitops.documents import KINDS, Doc, load_dir, parse, render
from loopml.gitops.plan import Change, Plan, apply_plan, check, export, plan
from loopml.gitops.state import State

__all__ = ["KINDS", "Change", "Doc", "Plan", "State", "apply_plan", "check", "export",
           "load_dir", "parse", "plan", "render"]
