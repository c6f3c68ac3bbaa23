import subprocess
import sys

import loopml


def test_version_exposed():
    assert loopml.__version__
    assert "__version__" in loopml.__all__


def test_cli_version():
    out = subprocess.run(
        [sys.executable, "-m", "loopml", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"loopml {loopml.__version__}"


# Public modules written before the rule, still without ``__all__``: a ratchet. Remove a
# name when its module gains ``__all__``; a new public module must have one from the start.
WITHOUT_ALL = frozenset({
    "loopml.artifacts.base",
    "loopml.artifacts.local",
    "loopml.artifacts.s3",
    "loopml.automation.controller",
    "loopml.automation.policy",
    "loopml.cli.data",
    "loopml.cli.demo",
    "loopml.cli.deployments",
    "loopml.cli.gc",
    "loopml.cli.loop",
    "loopml.cli.main",
    "loopml.cli.models",
    "loopml.cli.monitor",
    "loopml.cli.pipeline",
    "loopml.cli.runs",
    "loopml.cli.serve",
    "loopml.cli.server",
    "loopml.config",
    "loopml.data.drift",
    "loopml.data.profile",
    "loopml.data.schema",
    "loopml.demo.flows",
    "loopml.demo.run",
    "loopml.demo.scenario",
    "loopml.errors",
    "loopml.models.flavors.base",
    "loopml.models.flavors.lightgbm",
    "loopml.models.flavors.onnx",
    "loopml.models.flavors.pyfunc",
    "loopml.models.flavors.pytorch",
    "loopml.models.flavors.sklearn",
    "loopml.models.flavors.xgboost",
    "loopml.models.onnx_export",
    "loopml.models.signature",
    "loopml.models.uris",
    "loopml.pipelines.executors.base",
    "loopml.pipelines.executors.local",
    "loopml.pipelines.executors.ray",
    "loopml.pipelines.triggers",
    "loopml.registry.lineage",
    "loopml.registry.sources",
    "loopml.server.app",
    "loopml.server.routes.artifacts",
    "loopml.server.routes.deployments",
    "loopml.server.routes.experiments",
    "loopml.server.routes.health",
    "loopml.server.routes.logged_models",
    "loopml.server.routes.loops",
    "loopml.server.routes.metrics",
    "loopml.server.routes.monitoring",
    "loopml.server.routes.pipelines",
    "loopml.server.routes.registry",
    "loopml.server.routes.runs",
    "loopml.server.routes.ui",
    "loopml.serving.app",
    "loopml.serving.batcher",
    "loopml.serving.codec",
    "loopml.serving.grpc_server",
    "loopml.serving.metrics",
    "loopml.serving.repository",
    "loopml.serving.runtime",
    "loopml.serving.server",
    "loopml.serving.traffic",
    "loopml.store.base",
    "loopml.store.deployments_base",
    "loopml.store.deployments_rest",
    "loopml.store.deployments_sql",
    "loopml.store.loops_base",
    "loopml.store.loops_rest",
    "loopml.store.loops_sql",
    "loopml.store.pipelines_base",
    "loopml.store.pipelines_rest",
    "loopml.store.pipelines_sql",
    "loopml.store.registry_base",
    "loopml.store.registry_rest",
    "loopml.store.registry_sql",
    "loopml.store.rest",
    "loopml.store.sql",
    "loopml.testing.loop_contract",
    "loopml.testing.pipeline_contract",
    "loopml.testing.registry_contract",
    "loopml.testing.store_contract",
    "loopml.ui.svg",
    "loopml.ui.views_ops",
    "loopml.ui.views_tracking",
})


def _public_modules() -> list[str]:
    import pkgutil

    return [m.name for m in pkgutil.walk_packages(loopml.__path__, "loopml.")
            if not any(part.startswith("_") for part in m.name.split(".")[1:])]


def test_every_all_names_what_exists():
    import importlib

    for name in ["loopml", *_public_modules()]:
        mod = importlib.import_module(name)
        for attr in getattr(mod, "__all__", ()):
            assert hasattr(mod, attr), f"{name}.__all__ names {attr!r}, which does not exist"


def test_public_modules_have_all():
    import importlib
    import pkgutil

    names = _public_modules()
    packages = [m.name for m in pkgutil.walk_packages(loopml.__path__, "loopml.") if m.ispkg]
    lacking = {n for n in names if not hasattr(importlib.import_module(n), "__all__")}
    assert not lacking - WITHOUT_ALL, f"public modules without __all__: {sorted(lacking - WITHOUT_ALL)}"
    assert not [p for p in packages if p in lacking], "every package declares __all__"
    assert not WITHOUT_ALL - lacking, f"these have __all__ now: {sorted(WITHOUT_ALL - lacking)}"
