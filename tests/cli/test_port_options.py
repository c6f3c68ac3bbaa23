"""Ports outside 0-65535 are bad input (exit 2) before anything starts."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from loopml.cli.main import app


@pytest.mark.parametrize("args", [
    ["server", "--port", "70000"],
    ["server", "--port", "-1"],
    ["serve", "models:/m/1", "--port", "-1"],
    ["serve", "models:/m/1", "--grpc-port", "99999"],
])
def test_port_out_of_range_is_a_usage_error(args: list[str]) -> None:
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 2 and "port" in r.output, r.output
