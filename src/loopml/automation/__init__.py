"""The closed loop: policies per registered model, and the controller that turns alerts
(or a schedule, or a manual call) into retrain -> evaluate -> gate -> canary -> promote or
roll back, with every decision in an audit log. See docs/loop.md."""

from loopml.automation.controller import Controller
from loopml.automation.policy import Policy, load_policies

__all__ = ["Controller", "Policy", "load_policies"]
