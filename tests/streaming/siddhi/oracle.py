"""Siddhi as a test oracle: find the jars of the installed PySiddhi wheel, compile the harness,
run a SiddhiQL app over a trace and read back every output event.

The PySiddhi 5.1.0 wheel ships siddhi-core/-query-api/-query-compiler 5.1.7 and their
dependencies under ``__PySiddhiProxy/target/lib``; they are located through the installed
distribution's file list (``importlib.metadata``), so no path is hard-coded. The harness
(``SiddhiHarness.java`` next to this file) is compiled once per source hash into a cache
folder (``$LOOPML_SIDDHI_CACHE`` or ``~/.cache/loopml/siddhi``); no ``.class`` file is
committed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from tests.streaming.siddhi.traces import Trace

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "SiddhiHarness.java"
Row = tuple[object, ...]
# Test runs are short: C1 only and the serial collector start fastest (bench runs use defaults).
QUICK_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


class OracleUnavailable(RuntimeError):
    """Java, javac or the PySiddhi jars are missing; the message says which."""


def find_jars() -> list[Path]:
    """The jars of the installed PySiddhi wheel; raises OracleUnavailable when absent."""
    try:
        files = metadata.files("pysiddhi") or []
    except metadata.PackageNotFoundError as exc:
        raise OracleUnavailable("pysiddhi is not installed (pip install pysiddhi==5.1.0)") from exc
    jars = sorted(Path(str(f.locate())) for f in files if str(f).endswith(".jar"))
    jars = [j for j in jars if j.is_file()]
    if not any(j.name.startswith("siddhi-core-") for j in jars):
        raise OracleUnavailable("the installed pysiddhi wheel carries no siddhi-core jar")
    return jars


def _cache_dir() -> Path:
    root = os.environ.get("LOOPML_SIDDHI_CACHE")
    return Path(root) if root else Path.home() / ".cache" / "loopml" / "siddhi"


@dataclass(frozen=True)
class SiddhiOracle:
    """A compiled harness: ``run`` returns Siddhi's output rows per output stream."""

    classpath: str
    java: str

    def run(
        self,
        app: str,
        trace: Trace,
        *,
        outputs: list[str] | None = None,
        flush_at: int | None = None,
        tick_every: int | None = None,
        batch: int = 0,
    ) -> dict[str, list[Row]]:
        """Run ``app`` over ``trace`` (arrival order) in playback mode.

        Returns ``{stream: [(timestamp_ms, value, ...), ...]}`` in Siddhi's emission order,
        current events only (expired ones are marked by the harness and skipped here).
        ``tick_every``: advance playback time to each multiple of that many ms before the first
        event at or after it, so that timeBatch windows close before the next window's first
        event (without it Siddhi's playback clock puts that event in the closing batch).
        Values are typed: numbers as int/float, booleans as bool, null as None.
        """
        with tempfile.TemporaryDirectory(prefix="siddhi-") as tmp:
            app_path, trace_path, out_path = (Path(tmp) / n for n in ("app.siddhi", "t.tsv", "o.tsv"))
            app_path.write_text(app)
            trace.write_tsv(trace_path)
            cmd = [self.java, "-Xmx2g", *QUICK_JVM, "-cp", self.classpath, "SiddhiHarness",
                   str(app_path), str(trace_path), str(out_path)]
            cmd += _options(outputs, flush_at, batch, tick_every)
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
            if proc.returncode != 0:
                raise RuntimeError(f"Siddhi harness failed ({proc.returncode}):\n{_tail(proc.stderr)}")
            return read_output(out_path)

    def bench(
        self, app: str, trace: Trace, *, batch: int, warmup: int = 1, repeat: int = 3,
        flush_at: int | None = None,
    ) -> list[dict[str, float]]:
        """Replay ``trace`` ``repeat`` times (after ``warmup`` runs); one timing dict per run."""
        with tempfile.TemporaryDirectory(prefix="siddhi-") as tmp:
            app_path, trace_path = Path(tmp) / "app.siddhi", Path(tmp) / "t.tsv"
            app_path.write_text(app)
            trace.write_tsv(trace_path)
            cmd = [self.java, "-Xmx4g", "-cp", self.classpath, "SiddhiHarness",
                   str(app_path), str(trace_path), os.devnull,
                   *_options(None, flush_at, batch), "--warmup", str(warmup), "--repeat", str(repeat)]
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
            if proc.returncode != 0:
                raise RuntimeError(f"Siddhi harness failed ({proc.returncode}):\n{_tail(proc.stderr)}")
            return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _options(outputs: list[str] | None, flush_at: int | None, batch: int,
             tick_every: int | None = None) -> list[str]:
    opts: list[str] = []
    if tick_every:
        opts += ["--tick-every", str(tick_every)]
    if outputs:
        opts += ["--outputs", ",".join(outputs)]
    if flush_at is not None:
        opts += ["--flush-at", str(flush_at)]
    if batch > 1:
        opts += ["--batch", str(batch)]
    return opts


def _tail(text: str, lines: int = 25) -> str:
    keep = [ln for ln in text.splitlines() if not ln.startswith("\tat ")]
    return "\n".join(keep[-lines:])


def build_oracle() -> SiddhiOracle:
    """Compile the harness against the wheel's jars (cached by source hash).

    Raises OracleUnavailable naming what is missing (java, javac, pysiddhi).
    """
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        raise OracleUnavailable("java and javac (JDK 17) are needed on PATH for the Siddhi oracle")
    jars = find_jars()
    jar_cp = os.pathsep.join(str(j) for j in jars)
    digest = hashlib.sha256(SOURCE.read_bytes() + jar_cp.encode()).hexdigest()[:16]
    out = _cache_dir() / digest
    if not (out / "SiddhiHarness.class").exists():
        out.mkdir(parents=True, exist_ok=True)
        # Compile into a private temp folder, then move it in: two test processes may race.
        tmp = Path(tempfile.mkdtemp(dir=out.parent))
        proc = subprocess.run([javac, "-proc:none", "-nowarn", "-d", str(tmp), "-cp", jar_cp,
                               str(SOURCE)], capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"javac failed on SiddhiHarness.java:\n{proc.stderr}")
        for cls in tmp.iterdir():
            os.replace(cls, out / cls.name)
        shutil.rmtree(tmp, ignore_errors=True)
    return SiddhiOracle(classpath=jar_cp + os.pathsep + str(out), java=java)


def _value(text: str) -> object:
    if text == "\\N":
        return None
    if text in ("true", "false"):
        return text == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text.replace("\\t", "\t").replace("\\n", "\n").replace("\\\\", "\\")


def read_output(path: Path) -> dict[str, list[Row]]:
    """Parse the harness's output file: ``stream, ts, C|E, values...`` per line."""
    result: dict[str, list[Row]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            fields = line.rstrip("\n").split("\t")
            if fields[2] != "C":
                continue
            row = (int(fields[1]), *(_value(f) for f in fields[3:]))
            result.setdefault(fields[0], []).append(row)
    return result


def oracle_or_skip() -> SiddhiOracle:
    """The compiled oracle; skips the test when Java or PySiddhi is missing, fails under CI=true."""
    import pytest

    try:
        return build_oracle()
    except OracleUnavailable as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{exc}; CI=true requires the Siddhi oracle (pip install -e '.[dev]', JDK 17)")
        pytest.skip(str(exc))
