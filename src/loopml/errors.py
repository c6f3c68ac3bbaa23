"""One error hierarchy for all of loopml.

Every error carries an MLflow-compatible error code. The code maps to an HTTP status in one
table (``HTTP_STATUS``), and the REST store maps the code back to the same class, so an error
raised by the SQL store behind a server reaches a remote caller as the same exception type.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LoopmlError(Exception):
    """Base class. ``error_code`` is an MLflow ``ErrorCode`` name, kept stable on the wire."""

    error_code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def http_status(self) -> int:
        return HTTP_STATUS.get(self.error_code, 500)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidParameterValue(LoopmlError):
    error_code = "INVALID_PARAMETER_VALUE"


class InvalidConfig(InvalidParameterValue):
    """A configuration file, flag or body that fails validation. The message names the
    source (a file, a flag, a request), the key path and what was expected, e.g.
    ``monitors.yaml: monitors[0].rules[1].metric: unknown metric 'drift.shared_drifted';
    did you mean 'drift.share_drifted'?``. A 400 on the wire; exit 2 in the CLI."""


class BadRequest(LoopmlError):
    error_code = "BAD_REQUEST"


class InvalidState(LoopmlError):
    error_code = "INVALID_STATE"


class ResourceDoesNotExist(LoopmlError):
    error_code = "RESOURCE_DOES_NOT_EXIST"


class ResourceAlreadyExists(LoopmlError):
    error_code = "RESOURCE_ALREADY_EXISTS"


class Unauthenticated(LoopmlError):
    error_code = "UNAUTHENTICATED"


class PermissionDenied(LoopmlError):
    error_code = "PERMISSION_DENIED"


class QuotaExceeded(PermissionDenied):
    """A workspace quota would be exceeded. A 403, not a 429: a quota is a hard limit that
    only an admin can raise, and HTTP clients (the mlflow client among them) retry a 429 with
    backoff for minutes. ``details`` name the quota, the workspace, the limit, the usage and
    who can raise it; MLflow's ``RESOURCE_EXHAUSTED`` code keeps the mlflow client's error
    type."""

    error_code = "RESOURCE_EXHAUSTED"


class RequestTooLarge(LoopmlError):
    error_code = "REQUEST_LIMIT_EXCEEDED"


class ServiceUnavailable(LoopmlError):
    error_code = "TEMPORARILY_UNAVAILABLE"


class InternalError(LoopmlError):
    error_code = "INTERNAL_ERROR"


HTTP_STATUS: dict[str, int] = {
    "INVALID_PARAMETER_VALUE": 400,
    "BAD_REQUEST": 400,
    "INVALID_STATE": 400,
    "RESOURCE_ALREADY_EXISTS": 400,
    "RESOURCE_DOES_NOT_EXIST": 404,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 403,
    "REQUEST_LIMIT_EXCEEDED": 413,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}

_BY_CODE: dict[str, type[LoopmlError]] = {
    cls.error_code: cls
    for cls in (
        InvalidParameterValue,
        BadRequest,
        InvalidState,
        ResourceDoesNotExist,
        ResourceAlreadyExists,
        Unauthenticated,
        PermissionDenied,
        QuotaExceeded,
        RequestTooLarge,
        ServiceUnavailable,
        InternalError,
    )
}


def error_from_code(error_code: str, message: str) -> LoopmlError:
    """Rebuild the exception a server raised from its wire form (used by the REST store)."""
    return _BY_CODE.get(error_code, LoopmlError)(message)


def invalid_param(name: str, where: str, expected: str, got: object) -> InvalidParameterValue:
    """The one message template for boundary validation (after scikit-learn's).

    >>> str(invalid_param("max_results", "search_runs", "an int in [1, 50000]", 0))
    "The 'max_results' parameter of search_runs must be an int in [1, 50000]. Got 0."
    """
    return InvalidParameterValue(
        f"The '{name}' parameter of {where} must be {expected}. Got {got!r}."
    )
