"""Edge bundles: one folder (or tarball) that serves one model on a device.

Layout::

    bundle/
      manifest.json      format, model URI and version, target profile, arch, OS, runtime,
                         sha256 of every other file
      model/             the MLflow model folder (the variant chosen for the target)
      requirements.txt   pinned runtime requirements (loopml and the model's runtime)
      serve.py           entry point: checks, then OIP V2 + /invocations + health + metrics

``serve.py`` (and ``verify_bundle``) refuse to start on another CPU architecture or when a
digest does not match, and the model's signature checks every request (loopml's serving).
``package`` refuses a bundle for a target the runtime cannot run on (no wheel for the
architecture, no Python on the device), with the reason.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any

from loopml.errors import InvalidParameterValue
from loopml.targets.profile import TargetProfile

FORMAT = "loopml-edge-bundle/1"
# Architectures with wheels on PyPI for each runtime (checked for the versions pinned).
WHEEL_ARCHES = {"onnxruntime": {"x86_64", "aarch64"}, "scikit-learn": {"x86_64", "aarch64"},
                "lightgbm": {"x86_64", "aarch64"}, "xgboost": {"x86_64", "aarch64"},
                "torch": {"x86_64", "aarch64"}}

SERVE_PY = '''"""Serve this loopml edge bundle: python serve.py [--host H] [--port P].

Checks the CPU architecture and every file digest in manifest.json first, then serves the
model over the Open Inference Protocol V2 (/v2/...), MLflow's /invocations, /health and
Prometheus /metrics (loopml's serving runtime)."""
import sys
from pathlib import Path

from loopml.edge.bundle import serve_bundle

sys.exit(serve_bundle(Path(__file__).resolve().parent, sys.argv[1:]))
'''


class BundleRefused(InvalidParameterValue):
    """The bundle cannot be built for, or run on, this target (the message says why)."""


def sha256(path: Path) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks (bundle manifests)."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digests(folder: Path) -> dict[str, str]:
    """sha256 of every file under ``folder`` except manifest.json, by relative POSIX path."""
    return {p.relative_to(folder).as_posix(): sha256(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "manifest.json"}


def _runtime(meta: Any) -> tuple[str, list[str]]:
    """(runtime the bundle serves with, pip distributions it needs)."""
    from loopml.models.flavors import get_flavor

    flavors = [f for f in meta.flavors if f != "python_function"]
    if "onnx" in flavors:
        return "onnxruntime", ["onnxruntime", "onnx"]
    if not flavors:
        raise BundleRefused("The model has no flavor loopml can serve on a device "
                            "(python_function models run arbitrary code).")
    return flavors[0], list(get_flavor(flavors[0]).packages)


def check_target(profile: TargetProfile, runtime: str, packages: list[str]) -> None:
    """Refuse (``BundleRefused``) what the target cannot run, with the reason."""
    arch = profile.hardware.cpu.arch
    if profile.software.python is None or profile.software.os == "android":
        raise BundleRefused(
            f"Target {profile.name}: the bundle runs a Python server, and the profile has no "
            f"Python (os {profile.software.os}). Export a plain ONNX file for an embedded "
            "runtime instead.")
    for dist in packages:
        arches = WHEEL_ARCHES.get(dist)
        if arches is not None and arch not in arches:
            raise BundleRefused(
                f"Target {profile.name} is {arch}: {dist} publishes no {arch} wheel on PyPI, so "
                f"the {runtime} bundle could not be installed there. Supported: "
                f"{sorted(arches)}.")
    if runtime not in profile.software.runtimes_allowed and not (
            runtime != "onnxruntime" and "native" in profile.software.runtimes_allowed):
        raise BundleRefused(f"Target {profile.name} does not allow the {runtime} runtime "
                            f"(runtimes_allowed: {profile.software.runtimes_allowed}).")


def _pins(packages: list[str]) -> list[str]:
    from loopml._version import __version__
    from loopml.models.flavors.base import version_of

    pins = [f"loopml=={__version__}"]
    for dist in packages:
        v = version_of(dist)
        pins.append(f"{dist}=={v}" if v else dist)
    return pins


def package(model_uri: str, profile: TargetProfile, out: str | Path, *, tarball: bool = False,
            profile_ref: str | None = None) -> Path:
    """Build a bundle for ``model_uri`` (usually the derived version ``loopml target
    optimize`` registered) at ``out`` (a new folder; ``out.tar.gz`` when ``tarball``).
    Returns the bundle path. Raises ``BundleRefused`` for a target it cannot serve on."""
    from loopml.models._integrity import verify_digests
    from loopml.models._mlmodel import MLModel
    from loopml.models.uris import resolve

    resolved = resolve(model_uri)
    meta = MLModel.load(resolved.folder)
    if meta.file_digests:
        verify_digests(resolved.folder, meta.file_digests)
    runtime, packages = _runtime(meta)
    check_target(profile, runtime, packages)
    dest = Path(out)
    if dest.exists() and any(dest.iterdir()):
        raise InvalidParameterValue(f"{dest} exists and is not empty; pick a new folder.")
    tar = dest.with_name(dest.name + ".tar.gz")
    if tarball and tar.exists():  # never replace a bundle silently, as for a folder
        raise InvalidParameterValue(f"{tar} exists; pick a new name or remove it first.")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(resolved.folder, dest / "model")
    (dest / "requirements.txt").write_text("\n".join(_pins(packages)) + "\n")
    (dest / "serve.py").write_text(SERVE_PY)
    manifest = {"format": FORMAT, "model_uri": model_uri,
                "model_version": str(resolved.version.version) if resolved.version else None,
                "target": profile_ref or profile.name, "profile": profile.to_dict(),
                "arch": profile.hardware.cpu.arch, "os": profile.software.os,
                "runtime": runtime, "created": int(time.time()), "files": digests(dest)}
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    if not tarball:
        return dest
    with tarfile.open(tar, "w:gz") as tf:
        tf.add(dest, arcname=dest.name)
    shutil.rmtree(dest)
    return tar


def verify_bundle(folder: Path, machine: str | None = None) -> dict[str, Any]:
    """The manifest, after checking the architecture and every digest. Raises
    ``BundleRefused`` naming the first problem (a changed, missing or extra file, or an
    architecture mismatch)."""
    try:
        manifest: dict[str, Any] = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise BundleRefused(f"{folder}: no readable manifest.json ({e}).") from None
    if manifest.get("format") != FORMAT:
        raise BundleRefused(f"{folder}: not a {FORMAT} bundle (format {manifest.get('format')!r}).")
    here = {"amd64": "x86_64", "arm64": "aarch64"}.get((machine or platform.machine()).lower(),
                                                       (machine or platform.machine()).lower())
    if manifest.get("arch") != here:
        raise BundleRefused(f"This bundle was built for {manifest.get('arch')}, and this "
                            f"machine is {here}: refusing to start. Package it for a "
                            f"profile with arch {here}.")
    have, want = digests(folder), manifest.get("files", {})
    for name in sorted(set(want) | set(have)):
        if want.get(name) != have.get(name):
            what = "missing" if name not in have else "unexpected" if name not in want \
                else "changed (sha256 mismatch)"
            raise BundleRefused(f"{folder}: {name} is {what}; refusing to serve it.")
    return manifest


def serve_bundle(folder: Path, argv: list[str]) -> int:
    """``serve.py``'s body: verify, then run loopml's model server on the bundle's model."""
    import argparse

    from loopml.serving.repository import ServingSettings
    from loopml.serving.server import ServeOptions, serve

    ap = argparse.ArgumentParser(prog="serve.py")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--name", default="model")
    args = ap.parse_args(argv)
    try:
        manifest = verify_bundle(folder)
    except BundleRefused as e:
        print(f"Error: {e.message}", file=__import__("sys").stderr)
        return 2
    print(f"loopml edge bundle: {manifest['model_uri']} for {manifest['target']} on "
          f"http://{args.host}:{args.port}")
    serve({args.name: str(folder / "model")}, ServingSettings(),
          ServeOptions(args.host, args.port, grpc_port=None), None, 1)
    return 0


__all__ = ["FORMAT", "BundleRefused", "check_target", "digests", "package", "serve_bundle", "sha256", "verify_bundle"]
