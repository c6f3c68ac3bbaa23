"""The closed loop: policies per registered model, and the controller that turns alerts
(or a schedule, or a manual call) into retrain -> evaluate -> gate -> canary -> promote or
roll back, with every decision in an audit log. See docs/loop.md."""

from typing import Any

from loopml.automation.controller import Controller
from loopml.automation.policy import Policy, load_policies


def labelled_traffic(log_dir: str | dict[str, Any], deployment: str | None = None,
                     since_ms: int = 0, features: list[str] | None = None,
                     tracking_uri: str | None = None, last: int | None = None,
                     part: str | None = "train") -> tuple[Any, list[Any]]:
    """What a retraining pipeline learns from: the deployment's requests since ``since_ms``
    (ms since the epoch) that have a label from feedback, oldest first.

    Returns ``(X, y)``: ``X`` a pandas DataFrame with one row per labelled row, columns
    ``features`` (or the request's own column names), values as the inference log holds
    them (whole-number floats are cast back to a model's integer columns when it is
    scored); ``y`` a list of the labels, in ``X``'s order. Both are empty when nothing
    matched. A single-row request's label is one value; a batched request of n rows is
    included when its label is a list of n values.

    ``log_dir`` may be the ``loop`` dict a retraining pipeline receives: its log_dir,
    deployment and since_ms are used, and with ``part="train"`` (the default) requests in
    the policy's rolling labelled holdout (``evaluate.recent_holdout_percent``) are left
    out, so the gate scores the challenger on traffic it did not learn from. ``last``:
    only the newest ``last`` rows."""
    from loopml.automation._evaluate import recent_labelled
    from loopml.store import get_monitoring_store
    from loopml.tracking._client import TrackingClient
    from loopml.tracking._fluent import client

    percent = 0
    if isinstance(log_dir, dict):
        loop = log_dir
        log_dir, deployment = str(loop["log_dir"]), loop["deployment"]
        since_ms = since_ms or int(loop["since_ms"])
        percent = int(loop.get("holdout_percent") or 0)
    if deployment is None:
        raise TypeError("labelled_traffic needs a deployment (or the loop dict)")
    c = client() if tracking_uri is None else TrackingClient(tracking_uri)
    assert isinstance(log_dir, str)
    return recent_labelled(log_dir, deployment, get_monitoring_store(c.store), since_ms,
                           features, last, part if percent else None, percent)


__all__ = ["Controller", "Policy", "labelled_traffic", "load_policies"]
