"""``TargetProfile``: the device a model must run on, its workload and its budgets.

The schema follows the research note ``target-aware.md`` §3.1 (YAML in the CLI, JSON on the
wire)::

    name: edge-x86-1c
    hardware:
      cpu: {arch: x86_64, cores: 1, threads_per_core: 1, isa: [avx2, fma], model: AMD EPYC}
      memory_mb: 2048
      accelerator: {type: none}
    software: {os: linux, python: "3.11", runtimes_allowed: [native, onnxruntime]}
    workload: {mode: online, batch_sizes: [1], concurrency: 1}
    slo:
      latency: {percentile: p99, budget_ms: 5.0, at_batch: 1}
      peak_memory_mb: 400
      artifact_max_mb: 50
      accuracy: {min: null, max_drop_vs_fp32: 1.0}   # points (percent)
    measurement: {where: local}                      # local | agent | estimate

Every budget is used by the selection rule (``targets.select``); latency is milliseconds at
a named percentile and batch size. Bad values raise ``InvalidConfig`` naming the key path
(``hardware.cpu.cores: must be at least 1, got 0``): exit 2 in the CLI, 400 over HTTP.
"""

from __future__ import annotations

import math
import os
import platform
import re
import socket
from dataclasses import asdict, field
from pathlib import Path
from typing import Any, Literal

from pydantic import field_validator

from loopml._config import config_model, load_file, validate

RUNTIMES = ("native", "onnxruntime")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def _positive(v: float | None, what: str = "must be > 0") -> float | None:
    if v is not None and not (v > 0 and math.isfinite(v)):  # inf would be stored as bad JSON
        raise ValueError(f"{what} and finite, got {v}")
    return v


@config_model
class Cpu:
    arch: str = "x86_64"
    cores: int = 1
    threads_per_core: int = 1
    isa: list[str] = field(default_factory=list)
    model: str = ""

    @field_validator("cores", "threads_per_core")
    @classmethod
    def _at_least_one(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v

    @field_validator("arch")
    @classmethod
    def _arch(cls, v: str) -> str:
        v = {"amd64": "x86_64", "arm64": "aarch64"}.get(v.lower(), v.lower())
        if v not in ("x86_64", "aarch64", "armv7l"):
            raise ValueError(f"{v!r} is not one of 'x86_64', 'aarch64', 'armv7l'")
        return v


@config_model
class Accelerator:
    type: Literal["none", "nvidia_gpu", "intel_gpu", "npu", "edgetpu"] = "none"
    model: str | None = None
    memory_mb: float | None = None


@config_model
class Hardware:
    cpu: Cpu = field(default_factory=Cpu)
    memory_mb: float | None = None
    disk_mb: float | None = None
    accelerator: Accelerator = field(default_factory=Accelerator)

    @field_validator("memory_mb", "disk_mb")
    @classmethod
    def _pos(cls, v: float | None) -> float | None:
        return _positive(v)


@config_model
class Software:
    os: Literal["linux", "android", "windows", "macos"] = "linux"
    python: str | None = "3.11"
    runtimes_allowed: list[str] = field(default_factory=lambda: list(RUNTIMES))

    @field_validator("runtimes_allowed")
    @classmethod
    def _runtimes(cls, v: list[str]) -> list[str]:
        from loopml._config import unknown

        for r in v:
            if r not in RUNTIMES:
                raise unknown("runtime", r, RUNTIMES)
        if not v:
            raise ValueError("must allow at least one runtime")
        return v


@config_model
class Workload:
    mode: Literal["online", "batch", "stream"] = "online"
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    concurrency: int = 1
    input_example: str | None = None  # a file of rows (CSV/Parquet) used for warm-up

    @field_validator("batch_sizes")
    @classmethod
    def _batches(cls, v: list[int]) -> list[int]:
        if not v or any(b < 1 for b in v):
            raise ValueError(f"must be a non-empty list of sizes >= 1, got {v}")
        return v

    @field_validator("concurrency")
    @classmethod
    def _conc(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v


@config_model
class LatencySlo:
    budget_ms: float
    percentile: Literal["p50", "p90", "p99"] = "p99"
    at_batch: int = 1

    @field_validator("budget_ms")
    @classmethod
    def _budget(cls, v: float) -> float:
        _positive(v, "must be a positive number of milliseconds")
        return v

    @field_validator("at_batch")
    @classmethod
    def _batch(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be at least 1, got {v}")
        return v


@config_model
class AccuracySlo:
    min: float | None = None  # floor on the task metric (accuracy in [0, 1], or R^2)
    max_drop_vs_fp32: float | None = None  # points (percent) below the fp32 parent

    @field_validator("max_drop_vs_fp32")
    @classmethod
    def _drop(cls, v: float | None) -> float | None:
        if v is not None and v < 0:
            raise ValueError(f"must be >= 0 points, got {v}")
        return v


@config_model
class Slo:
    latency: LatencySlo | None = None
    peak_memory_mb: float | None = None
    artifact_max_mb: float | None = None
    accuracy: AccuracySlo = field(default_factory=AccuracySlo)

    @field_validator("peak_memory_mb", "artifact_max_mb")
    @classmethod
    def _pos(cls, v: float | None) -> float | None:
        return _positive(v, "must be a positive number of MB")


@config_model
class Measurement:
    where: Literal["local", "agent", "estimate"] = "local"
    agent_url: str | None = None
    # where=estimate: host-measured latency x this factor (from a micro-suite run on both)
    slowdown: float = 1.0

    @field_validator("slowdown")
    @classmethod
    def _slow(cls, v: float) -> float:
        _positive(v)
        return v


@config_model
class TargetProfile:
    name: str
    hardware: Hardware = field(default_factory=Hardware)
    software: Software = field(default_factory=Software)
    workload: Workload = field(default_factory=Workload)
    slo: Slo = field(default_factory=Slo)
    measurement: Measurement = field(default_factory=Measurement)
    provenance: dict[str, str] = field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError(f"{v!r} must be 1-100 letters, digits, '_', '-' or '.'")
        return v

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload,no-any-return]

    @property
    def cores(self) -> int:
        return self.hardware.cpu.cores * self.hardware.cpu.threads_per_core


def profile_from_dict(data: Any, source: str = "profile") -> TargetProfile:
    """Validate ``data`` (a mapping, e.g. parsed YAML or a JSON body) as a profile."""
    return validate(TargetProfile, data, source)


def load_profile(path: str | Path) -> TargetProfile:
    """A profile from a YAML/JSON file; ``InvalidConfig`` names the file and key path."""
    return load_file(path, TargetProfile)


# ---- probing this host -------------------------------------------------------------------
_ISA_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512_vnni",
                    "avx512_bf16", "avx_vnni", "amx_int8", "amx_bf16", "neon", "asimd",
                    "asimddp", "dotprod", "sve", "i8mm")


def host_isa(cpuinfo: str | None = None) -> list[str]:
    """ISA flags of interest from ``/proc/cpuinfo`` (``flags``/``Features`` lines)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return []
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return [f for f in _ISA_OF_INTEREST if f in flags]


def usable_cores() -> int:
    """CPUs this process may run on (the affinity mask, which honours cpusets), which
    can be fewer than ``os.cpu_count()``."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _memory_mb() -> float | None:
    limit = _cgroup_memory_limit()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                total = int(line.split()[1]) / 1024
                return round(min(total, limit) if limit else total, 1)
    except OSError:
        pass
    return None


def _cgroup_memory_limit() -> float | None:
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return int(raw) / 2**20
    return None


def _cpu_model(cpuinfo: str) -> str:
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.partition(":")[2].strip()
    return platform.processor()


def probe(name: str = "this-machine", **slo: Any) -> TargetProfile:
    """A profile describing the current host: architecture, usable cores (affinity mask),
    ISA flags, memory (the cgroup limit when lower than RAM), OS and Python. ``slo`` keys
    (``budget_ms``, ``peak_memory_mb``, ``artifact_max_mb``, ``max_drop_vs_fp32``) fill the
    budgets. Marked ``provenance.probed_on`` = this host name, so measurements here count
    as "measured on target"."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    data: dict[str, Any] = {
        "name": name,
        "hardware": {"cpu": {"arch": platform.machine() or "x86_64", "cores": usable_cores(),
                             "isa": host_isa(cpuinfo), "model": _cpu_model(cpuinfo)},
                     "memory_mb": _memory_mb()},
        "software": {"os": "linux" if platform.system() == "Linux" else platform.system().lower(),
                     "python": ".".join(platform.python_version_tuple()[:2])},
        "slo": _slo_dict(**slo),
        "provenance": {"probed_on": socket.gethostname(), "kernel": platform.release(),
                       "probe_version": "1"},
    }
    return profile_from_dict(data, "probe")


def _slo_dict(budget_ms: float | None = None, peak_memory_mb: float | None = None,
              artifact_max_mb: float | None = None, max_drop_vs_fp32: float | None = None,
              percentile: str = "p99", at_batch: int = 1) -> dict[str, Any]:
    out: dict[str, Any] = {"peak_memory_mb": peak_memory_mb, "artifact_max_mb": artifact_max_mb,
                           "accuracy": {"max_drop_vs_fp32": max_drop_vs_fp32}}
    if budget_ms is not None:
        out["latency"] = {"budget_ms": budget_ms, "percentile": percentile, "at_batch": at_batch}
    return out


def is_this_host(profile: TargetProfile) -> bool:
    """True when the profile was probed on this host with all of its cores: measuring here
    is measuring on the target."""
    return (profile.provenance.get("probed_on") == socket.gethostname()
            and profile.hardware.cpu.arch == (platform.machine() or "x86_64")
            and profile.cores == usable_cores())


__all__ = ["Accelerator", "AccuracySlo", "Cpu", "Hardware", "LatencySlo", "Measurement", "RUNTIMES", "Slo", "Software", "TargetProfile", "Workload", "host_isa", "is_this_host", "load_profile", "probe", "profile_from_dict", "usable_cores"]
