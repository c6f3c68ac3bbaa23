"""Frozen dataclasses for everything the stores hand out.

Field names follow MLflow's protos so the server's JSON mapping stays a thin rename-free layer.
Times are integer milliseconds since the epoch, as in MLflow.
"""

from loopml.entities._deployments import Deployment, TrafficRoute
from loopml.entities._events import Event
from loopml.entities._registry import ModelVersion, ModelVersionStatus, RegisteredModel, Stage
from loopml.entities._tracking import (
    Dataset,
    DatasetInput,
    Experiment,
    ExperimentTag,
    InputTag,
    LifecycleStage,
    LoggedModel,
    LoggedModelOutput,
    LoggedModelParameter,
    LoggedModelStatus,
    LoggedModelTag,
    Metric,
    PagedList,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunStatus,
    RunTag,
    ViewType,
)

__all__ = [
    "Dataset",
    "DatasetInput",
    "Deployment",
    "Event",
    "Experiment",
    "ExperimentTag",
    "InputTag",
    "LifecycleStage",
    "LoggedModel",
    "LoggedModelOutput",
    "LoggedModelParameter",
    "LoggedModelStatus",
    "LoggedModelTag",
    "Metric",
    "ModelVersion",
    "ModelVersionStatus",
    "PagedList",
    "Param",
    "RegisteredModel",
    "Run",
    "RunData",
    "RunInfo",
    "RunInputs",
    "RunOutputs",
    "RunStatus",
    "RunTag",
    "Stage",
    "TrafficRoute",
    "ViewType",
]
