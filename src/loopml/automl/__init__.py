"""The no-code build: data + target column + task + target device -> a deployed, monitored
model, with AutoML over six model families (docs/automl.md).

    from loopml import automl
    result = automl.build("churn.csv", "churned", target="edge-x86-1c", p99_ms=5)
    print(result.endpoint, result.curl)
"""

from loopml.automl._build import DEFAULT_BUDGET_S, BuildFailed, BuildResult, build
from loopml.automl.checks import BuildInputError, inspect_frame, suggest_task

__all__ = ["DEFAULT_BUDGET_S", "BuildFailed", "BuildInputError", "BuildResult", "build",
           "inspect_frame", "suggest_task"]
