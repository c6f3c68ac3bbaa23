from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, NamedTuple, TypeVar

T = TypeVar("T")


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


class ViewType(enum.IntEnum):
    """MLflow's ViewType numbers, as sent on the wire."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def parse(cls, value: object) -> ViewType:
        if isinstance(value, ViewType):
            return value
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return cls(int(value))
        if isinstance(value, str) and value.upper() in cls.__members__:
            return cls[value.upper()]
        raise ValueError(f"unknown view type {value!r}")


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminated(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


class LoggedModelStatus(enum.StrEnum):
    PENDING = "LOGGED_MODEL_PENDING"
    READY = "LOGGED_MODEL_READY"
    UPLOAD_FAILED = "LOGGED_MODEL_UPLOAD_FAILED"


@dataclass(frozen=True)
class ExperimentTag:
    key: str
    value: str


@dataclass(frozen=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value
    tags: dict[str, str] = field(default_factory=dict)
    creation_time: int | None = None
    last_update_time: int | None = None
    workspace: str = "default"


class Metric(NamedTuple):
    """Immutable like the other entities, but a NamedTuple: metric histories build tens of
    thousands at a time, and a tuple is several times cheaper to create than a frozen
    dataclass."""

    key: str
    value: float
    timestamp: int
    step: int = 0
    # Set when the metric comes back from a multi-run query (get-history-bulk-interval).
    run_id: str | None = None


@dataclass(frozen=True)
class Param:
    key: str
    value: str


@dataclass(frozen=True)
class RunTag:
    key: str
    value: str


@dataclass(frozen=True)
class InputTag:
    key: str
    value: str


@dataclass(frozen=True)
class Dataset:
    name: str
    digest: str
    source_type: str
    source: str
    schema: str | None = None
    profile: str | None = None


@dataclass(frozen=True)
class DatasetInput:
    dataset: Dataset
    tags: tuple[InputTag, ...] = ()


@dataclass(frozen=True)
class LoggedModelOutput:
    model_id: str
    step: int = 0


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int | None
    end_time: int | None
    artifact_uri: str
    lifecycle_stage: str = LifecycleStage.ACTIVE.value


@dataclass(frozen=True)
class RunData:
    metrics: dict[str, Metric] = field(default_factory=dict)  # latest value per key
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInputs:
    dataset_inputs: tuple[DatasetInput, ...] = ()
    model_inputs: tuple[str, ...] = ()  # logged model ids


@dataclass(frozen=True)
class RunOutputs:
    model_outputs: tuple[LoggedModelOutput, ...] = ()


@dataclass(frozen=True)
class Run:
    info: RunInfo
    data: RunData = field(default_factory=RunData)
    inputs: RunInputs = field(default_factory=RunInputs)
    outputs: RunOutputs = field(default_factory=RunOutputs)


@dataclass(frozen=True)
class LoggedModelTag:
    key: str
    value: str


@dataclass(frozen=True)
class LoggedModelParameter:
    key: str
    value: str


@dataclass(frozen=True)
class LoggedModel:
    """MLflow 3's logged model: a model artifact with its own id, linked to a run."""

    model_id: str
    experiment_id: str
    name: str
    artifact_location: str
    creation_timestamp: int
    last_updated_timestamp: int
    status: str = LoggedModelStatus.PENDING.value
    status_message: str | None = None
    model_type: str | None = None
    source_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()


@dataclass(frozen=True)
class PagedList(Generic[T]):
    """A page of results plus the opaque token for the next page (None on the last page)."""

    items: list[T]
    next_page_token: str | None = None

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> T:
        return self.items[i]

    @classmethod
    def of(cls, items: Sequence[T], token: str | None = None) -> PagedList[T]:
        return cls(list(items), token)
