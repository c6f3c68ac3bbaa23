"""How every ``loopml`` command ends on an error: one line on stderr and a documented exit
code (docs/configuration.md, "Exit codes"), never a traceback unless ``--debug`` (or
``LOOPML_DEBUG=1``) asks for one.

Exit codes: 0 success; 1 a runtime failure (a server that cannot be reached, a pipeline
step or a loop that failed, an unexpected error); 2 bad input: a usage error, a bad value
or configuration, something named that does not exist.
"""

from __future__ import annotations

import os
from typing import Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException  # usage errors (BadParameter, ...) derive from it

from loopml.errors import LoopmlError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2

# LoopmlError codes that mean "the input is wrong" (exit 2); any other code is a runtime
# failure (exit 1).
_USAGE_CODES = {"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "INVALID_STATE",
                "RESOURCE_DOES_NOT_EXIST", "RESOURCE_ALREADY_EXISTS", "UNAUTHENTICATED",
                "PERMISSION_DENIED", "REQUEST_LIMIT_EXCEEDED"}


def _loopml(e: BaseException) -> tuple[int, str]:
    assert isinstance(e, LoopmlError)
    return (EXIT_USAGE if e.error_code in _USAGE_CODES else EXIT_FAILURE), e.message


def _unreachable(e: BaseException) -> tuple[int, str]:
    request = getattr(e, "_request", None)
    url = f" {request.url}" if request is not None else ""
    return EXIT_FAILURE, f"cannot reach the server{url}: {e or type(e).__name__}"


def _file(e: BaseException) -> tuple[int, str]:
    name = getattr(e, "filename", None)
    return EXIT_USAGE, f"{name}: {getattr(e, 'strerror', None) or e}" if name else str(e)


def _data(e: BaseException) -> tuple[int, str]:
    return EXIT_USAGE, f"cannot read the data: {e}"


def _yaml(e: BaseException) -> tuple[int, str]:
    return EXIT_USAGE, f"YAML syntax error: {str(e).splitlines()[0]}"


def _table() -> list[tuple[tuple[type[BaseException], ...], Any]]:
    """Known exception types, most specific first; imported lazily (the CLI starts fast)."""
    import httpx
    import yaml

    out: list[tuple[tuple[type[BaseException], ...], Any]] = [
        ((LoopmlError,), _loopml),
        ((httpx.TransportError,), _unreachable),
        ((yaml.YAMLError,), _yaml),
        ((FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError), _file),
    ]
    try:
        import pyarrow as pa

        out.append(((pa.ArrowInvalid, pa.ArrowTypeError), _data))
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        pass
    return out


def explain(e: BaseException) -> tuple[int, str]:
    """(exit code, one-line message) for an exception a command let through."""
    for types, fn in _table():
        if isinstance(e, types):
            code, msg = fn(e)
            return code, " ".join(str(msg).split())
    return EXIT_FAILURE, (f"unexpected {type(e).__name__}: {' '.join(str(e).split())} "
                          "(run with --debug for the traceback)")


def debug_enabled() -> bool:
    return os.environ.get("LOOPML_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")


class LoopmlGroup(TyperGroup):
    """The root command: runs the chosen subcommand and turns what it raises into one line
    and an exit code (``--debug`` lets the traceback through instead)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _PASS_THROUGH:
            raise
        except Exception as e:
            if debug_enabled():
                raise
            code, message = explain(e)
            typer.echo(f"Error: {message}", err=True)
            raise typer.Exit(code) from None


# Typer's own ends of a command (exit codes, usage errors, Ctrl-C): click handles them.
_PASS_THROUGH = (typer.Exit, typer.Abort, TyperException)
