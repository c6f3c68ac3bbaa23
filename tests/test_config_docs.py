"""Every setting and every CLI flag is documented (issue 15, §5)."""

from __future__ import annotations

from pathlib import Path

import typer

from loopml.cli.main import app
from loopml.config import Settings, env_name

ROOT = Path(__file__).resolve().parents[1]


def _docs() -> str:
    return "\n".join(p.read_text() for p in [*sorted((ROOT / "docs").glob("*.md")),
                                              ROOT / "README.md"])


def _flags(cmd, path: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    out = [(path, o) for p in cmd.params for o in (*p.opts, *p.secondary_opts)
           if o.startswith("--") and o != "--help"]
    for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
        out += _flags(sub, f"{path} {name}")
    return out


def test_every_setting_is_documented() -> None:
    docs = _docs()
    missing = [f"{env_name(name)} / {name}" for name in Settings.model_fields
               if f"`{env_name(name)}`" not in docs or f"`{name}`" not in docs]
    assert not missing, f"settings not in docs/*.md: {missing}"


def test_every_cli_flag_is_documented() -> None:
    docs = _docs()
    flags = _flags(typer.main.get_command(app), "loopml")
    assert len(flags) > 50  # the walk reached the subcommands
    missing = [f"{cmd} {flag}" for cmd, flag in flags if f"`{flag}`" not in docs]
    assert not missing, f"flags not in docs/*.md (add them to docs/configuration.md): {missing}"
