"""Requirements captured from the running environment, pinned, in MLflow's three files
(requirements.txt, python_env.yaml, conda.yaml), so ``mlflow models serve`` can rebuild it."""

from __future__ import annotations

import platform
from collections.abc import Iterable
from pathlib import Path

import yaml

from loopml.models.flavors.base import version_of

BASE_PACKAGES = ("numpy", "pandas", "scikit-learn")
# Distributions published under another name than the module they install.
_ALIASES = {"xgboost": ("xgboost", "xgboost-cpu")}


def pinned(packages: Iterable[str]) -> list[str]:
    out: dict[str, str] = {}
    for pkg in packages:
        for dist in _ALIASES.get(pkg, (pkg,)):
            v = version_of(dist)
            if v:
                # Local labels (torch's "+cpu") are not installable from an index.
                out[dist] = f"{dist}=={v.split('+')[0]}"
                break
    return sorted(out.values())


def write_environment(folder: Path, packages: Iterable[str], extra: Iterable[str] = ()) -> list[str]:
    reqs = pinned([*BASE_PACKAGES, *packages]) + list(extra)
    (folder / "requirements.txt").write_text("\n".join(reqs) + "\n")
    py = platform.python_version()
    (folder / "python_env.yaml").write_text(yaml.safe_dump({
        "python": py, "build_dependencies": ["pip", "setuptools", "wheel"],
        "dependencies": ["-r requirements.txt"]}, sort_keys=False))
    (folder / "conda.yaml").write_text(yaml.safe_dump({
        "name": "loopml-env", "channels": ["conda-forge"],
        "dependencies": [f"python={py}", "pip", {"pip": reqs}]}, sort_keys=False))
    return reqs
