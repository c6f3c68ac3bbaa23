"""A pipeline whose parameter is a ``${secret:NAME}`` reference (importable by module:attr)."""

from __future__ import annotations

import os

from loopml.pipelines import pipeline, step


@step
def call_api(token: str) -> int:
    # The step receives the value; everything recorded keeps the reference.
    assert token == os.environ["EXPECTED_TOKEN"], "the step did not get the resolved value"
    return len(token)


@pipeline
def uses_secret(token: str = "none"):  # type: ignore[no-untyped-def]
    call_api(token)
