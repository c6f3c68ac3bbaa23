"""The closed loop: policies per registered model, and the controller that turns alerts
(or a schedule, or a manual call) into retrain -> evaluate -> gate -> canary -> promote or
roll back, with every decision in an audit log. See docs/loop.md."""

from typing import Any

from loopml.automation.controller import Controller
from loopml.automation.policy import Policy, load_policies


def labelled_traffic(log_dir: str, deployment: str, since_ms: int,
                     features: list[str] | None = None,
                     tracking_uri: str | None = None) -> tuple[Any, list[Any]]:
    """Single-row requests a deployment served since ``since_ms`` (ms) that have a label
    from feedback: (features DataFrame, labels). What a retraining pipeline learns from."""
    from loopml.automation._evaluate import recent_labelled
    from loopml.store import get_monitoring_store
    from loopml.tracking._client import TrackingClient
    from loopml.tracking._fluent import client

    c = client() if tracking_uri is None else TrackingClient(tracking_uri)
    return recent_labelled(log_dir, deployment, get_monitoring_store(c.store), since_ms, features)


__all__ = ["Controller", "Policy", "labelled_traffic", "load_policies"]
