"""The composition root (loopml.services): one call builds a process's stores from the
settings, and library code resolves model URIs through the stores it is given, never
through an ambient client."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest

from loopml.config import load_settings
from loopml.services import PROXY_SCHEME, open_services, services_for_store

SRC = Path(__file__).resolve().parents[1] / "src" / "loopml"


def test_open_services_builds_every_store_over_one_database(tmp_path: Path) -> None:
    s = open_services(load_settings(home=tmp_path / "home"))
    try:
        assert s.engine is not None
        for store in (s.registry, s.deployments, s.monitoring, s.pipelines, s.loops,
                      s.identities):
            assert getattr(store, "engine", None) is s.engine  # same database: one outbox
        assert s.audit is not None and s.entity_scope is not None
        assert s.client.store is s.tracking
        assert s.blobs is None and s.proxy_root is None  # a client process serves no files
    finally:
        s.close()


def test_server_services_proxy_artifacts_and_open_the_root(tmp_path: Path) -> None:
    settings = load_settings(backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
                             artifacts_destination=str(tmp_path / "art"))
    s = open_services(settings, server=True)
    try:
        assert s.blobs is not None and s.proxy_root == str(tmp_path / "art")
        exp = s.client.get_or_create_experiment("e")
        assert exp.artifact_location.startswith(PROXY_SCHEME)
        assert s.client.proxy_root == s.proxy_root
    finally:
        s.close()


def test_secrets_backend_is_built_at_first_use_with_a_clear_error(tmp_path: Path,
                                                                   monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from loopml.errors import InvalidConfig

    monkeypatch.delenv("LOOPML_SECRETS_KEY", raising=False)
    monkeypatch.delenv("LOOPML_SECRETS_KEY_FILE", raising=False)
    s = open_services(load_settings(home=tmp_path / "home"))  # starts without a key
    with pytest.raises(InvalidConfig, match="secrets"):
        s.secrets()
    s.close()


def test_model_uris_resolve_through_the_given_store_not_the_fluent_client(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The controller's evaluation scores models:/ URIs through its own store: with the
    fluent API pointed at another (empty) store, it still finds the version. Before the
    composition root this needed a thread-local swap of the fluent client."""
    from sklearn.linear_model import LogisticRegression

    from loopml import models
    from loopml.automation import _evaluate as ev
    from loopml.store.sql import SqlStore

    monkeypatch.setenv("LOOPML_TRACKING_URI", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    store = SqlStore(f"sqlite:///{tmp_path / 'db.sqlite'}", str(tmp_path / "artifacts"))
    s = services_for_store(store)
    X = pd.DataFrame({"f1": [1.0, 2.0, 3.0, 4.0]})
    run = s.client.create_run("0", "r")
    models.log_model(LogisticRegression().fit(X, [0, 0, 1, 1]), "model",
                     run_id=run.info.run_id, registered_model_name="m", client=s.client)
    assert len(ev.predictions("models:/m/1", X, "classification", "holdout", s.client)) == 4
    from loopml.errors import ResourceDoesNotExist

    with pytest.raises(ResourceDoesNotExist):  # the fluent default is really elsewhere
        models.load("models:/m/1")


# Modules allowed to touch the fluent API's default client: the fluent API itself and the
# public conveniences that are documented to act on "the current run" (log_model,
# tracking.evaluate, tune's parent run, pipelines run from user code).
_FLUENT_OK = {"tracking/_fluent.py", "tracking/__init__.py"}


def test_library_code_has_no_thread_local_client_swap() -> None:
    """``using_client`` (the fluent API's thread-local swap) is for user code and tests:
    library code passes its client explicitly."""
    offenders = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in _FLUENT_OK:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and any(a.name == "using_client"
                                                        for a in node.names):
                offenders.append(rel)
    assert offenders == []


@pytest.mark.parametrize("rel", ["automation/controller.py", "monitoring/monitor.py",
                                 "serving/server.py", "cli/serve.py", "services.py",
                                 "server/_factory.py"])
def test_process_code_never_asks_the_fluent_api_for_its_client(rel: str) -> None:
    tree = ast.parse((SRC / rel).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
             and n.module == "loopml.tracking._fluent" for a in n.names]
    assert names == [], f"{rel} imports {names} from the fluent API"
