"""Every Python example in README.md and docs/*.md runs, as a new user would run it.

Each page's ```python blocks run in order in one fresh interpreter (later blocks see what
earlier ones defined, like a notebook), in an empty working folder with its own
``LOOPML_HOME``. Tracebacks name the page and the line of the block.

Markers are HTML comments on the line(s) just before a fence, invisible on the rendered page:

- ``<!-- docs-test: skip REASON -->``: do not run the next block (the reason is required);
- ``<!-- docs-test: write NAME -->``: the next block is a file the reader saves as NAME;
  it is written into the working folder instead of being run (any language, e.g. YAML);
- ``<!-- docs-test: setup`` ... ``-->``: hidden Python run before the next block (data the
  page assumes the reader already has, e.g. ``X`` and ``clf``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```(\w*)\s*$")
MARKER = re.compile(r"^<!-- docs-test: (skip|write|setup)\b ?(.*?)(-->)?\s*$")

# Runs each block with its page's line numbers, so that a traceback points into the page.
RUNNER = """
import json, sys
ns = {"__name__": "__main__"}
for page, line, code in json.load(sys.stdin):
    exec(compile("\\n" * (line - 1) + code, page, "exec"), ns)
"""


@dataclass
class Block:
    line: int  # 1-based line of the first code line in the page
    code: str
    action: str = "run"  # run | skip | write
    arg: str = ""
    setup: str = ""
    setup_line: int = 0


def parse(text: str) -> list[Block]:
    """Python blocks of a Markdown page with the markers that precede them."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: dict[str, object] = {}
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i])
        if m:
            kind, arg, closed = m.group(1), m.group(2).strip(), m.group(3)
            if kind == "setup":
                start, body = i + 2, []
                i += 1
                while not lines[i].strip().startswith("-->"):
                    body.append(lines[i])
                    i += 1
                pending["setup"], pending["setup_line"] = "\n".join(body), start
            else:
                assert closed, f"line {i + 1}: a {kind} marker must close on its own line"
                assert arg, f"line {i + 1}: a {kind} marker needs a reason or a file name"
                pending["action"], pending["arg"] = kind, arg
            i += 1
            continue
        f = FENCE.match(lines[i])
        if f:
            lang, start, i = f.group(1), i + 2, i + 1
            body = []
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            # A `write` marker saves a block of any language (e.g. a YAML rule file).
            if lang in ("python", "py") or pending.get("action") == "write":
                blocks.append(Block(line=start, code="\n".join(body), **pending))  # type: ignore[arg-type]
            pending = {}
        i += 1
    return blocks


def page_id(p: Path) -> str:
    return str(p.relative_to(ROOT))


@pytest.mark.parametrize("page", [p for p in PAGES if parse(p.read_text())], ids=page_id)
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    name = page_id(page)
    steps: list[tuple[str, int, str]] = []
    for b in parse(page.read_text()):
        if b.setup:
            steps.append((f"{name} (hidden setup)", b.setup_line, b.setup))
        if b.action == "write":
            (tmp_path / b.arg).write_text(b.code + "\n")
        elif b.action == "run":
            steps.append((name, b.line, b.code))
    if not steps:
        pytest.skip(f"{name}: every block is marked skip or write")
    # The page's own files first, then the caller's path (a worktree's src/ under test).
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH", "")) if p)
    env = {**os.environ, "LOOPML_HOME": str(tmp_path / ".loopml"), "PYTHONPATH": path,
           "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env.pop("LOOPML_TRACKING_URI", None)
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(steps), text=True,
                          capture_output=True, cwd=tmp_path, env=env, timeout=180)
    if proc.returncode != 0:
        pytest.fail(f"an example in {name} failed:\n{proc.stderr[-4000:]}", pytrace=False)


def test_markers_parse() -> None:
    text = ("<!-- docs-test: skip needs a GPU -->\n```python\nraise SystemExit(1)\n```\n"
            "<!-- docs-test: setup\nx = 1\n-->\n```python\nassert x == 1\n```\n"
            "<!-- docs-test: write flows.py -->\n```python\ny = 2\n```\n")
    a, b, c = parse(text)
    assert (a.action, a.arg) == ("skip", "needs a GPU")
    assert (b.action, b.setup, b.setup_line, b.line) == ("run", "x = 1", 6, 9)
    assert (c.action, c.arg, c.code) == ("write", "flows.py", "y = 2")
