"""Pipelines the HA tests' servers run (importable by module:attr)."""

from __future__ import annotations

from typing import Any

from loopml.pipelines import pipeline, step


@step
def note(event: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"seq": (event or {}).get("seq")}


@pipeline
def on_event(event: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    note(event)


@step
def register(loop: dict | None = None) -> dict[str, Any]:  # type: ignore[type-arg]
    raise RuntimeError("no data in this test: the loop fails after retraining")


@pipeline
def retrain(loop: dict | None = None):  # type: ignore[no-untyped-def,type-arg]
    register(loop)
