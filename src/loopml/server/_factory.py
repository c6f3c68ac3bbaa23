"""Build services and the app from settings. ``app_from_env`` is the import string uvicorn
uses with ``--workers N``: each worker process builds its own stores from the environment."""

from __future__ import annotations

import os

from starlette.applications import Starlette

from loopml._gc import tune_for_serving
from loopml.artifacts import get_blob_store
from loopml.server._permissions import Authenticator
from loopml.server.app import create_app
from loopml.server.services import PROXY_SCHEME, Services
from loopml.store import (
    get_deployment_store,
    get_loop_store,
    get_monitoring_store,
    get_pipeline_store,
    get_registry_store,
    get_store,
)

ENV_BACKEND = "LOOPML_SERVER_BACKEND_STORE_URI"
ENV_ARTIFACTS = "LOOPML_SERVER_ARTIFACTS_DESTINATION"
ENV_TOKEN = "LOOPML_AUTH_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ENV_BASIC_USER = "LOOPML_AUTH_USERNAME"
# Comma-separated artifact locations, besides the server's own root, that registered model
# versions may point at (e.g. a shared s3://models bucket).
ENV_MODEL_ROOTS = "LOOPML_REGISTRY_ALLOWED_SOURCES"
ENV_MONITORS = "LOOPML_SERVER_MONITORS"  # the --monitors file, for the dashboard
ENV_POLICIES = "LOOPML_SERVER_POLICIES"  # the --policies file, for manual loop triggers
ENV_BASIC_PASSWORD = "LOOPML_AUTH_PASSWORD"  # noqa: S105 - the name of a variable, not a secret


def build_services(
    backend_store_uri: str,
    artifacts_destination: str,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
) -> Services:
    # Runs get mlflow-artifacts:/ URIs so that remote clients upload through this server.
    store = get_store(backend_store_uri, PROXY_SCHEME)
    blobs = get_blob_store(artifacts_destination)
    from loopml.config import load_settings  # LOOPML_REGISTRY_ALLOWED_SOURCES or the file

    extra = [r.strip() for r in load_settings().registry_allowed_sources.split(",") if r.strip()]
    return Services(
        store=store, blobs=blobs, registry=get_registry_store(store),
        deployments=get_deployment_store(store), monitoring=get_monitoring_store(store),
        pipelines=get_pipeline_store(store), loops=get_loop_store(store),
        auth=Authenticator(token, basic),
        inline_store_calls=backend_store_uri.startswith("sqlite"),
        allowed_model_roots=[PROXY_SCHEME, blobs.root_uri, *extra],
    )


def app_from_env() -> Starlette:
    basic = None
    if os.environ.get(ENV_BASIC_USER) and os.environ.get(ENV_BASIC_PASSWORD):
        basic = (os.environ[ENV_BASIC_USER], os.environ[ENV_BASIC_PASSWORD])
    services = build_services(
        os.environ[ENV_BACKEND], os.environ[ENV_ARTIFACTS], os.environ.get(ENV_TOKEN) or None,
        basic,
    )
    if os.environ.get(ENV_MONITORS):
        from loopml.monitoring.scheduler import load_specs

        services.monitor_specs = load_specs(os.environ[ENV_MONITORS])
    if os.environ.get(ENV_POLICIES):
        from loopml.automation import load_policies

        services.policies = load_policies(os.environ[ENV_POLICIES])
    app = create_app(services)
    tune_for_serving()  # this process is a server from here on
    return app
