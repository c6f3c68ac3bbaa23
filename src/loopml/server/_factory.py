"""Build services and the app from settings. ``app_from_env`` is the import string uvicorn
uses with ``--workers N``: each worker process builds its own stores from the environment."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from starlette.applications import Starlette

from loopml._gc import tune_for_serving
from loopml._secrets import read_secret
from loopml.config import Settings, load_settings
from loopml.errors import InvalidParameterValue
from loopml.security import Authenticator, CredentialVerifier
from loopml.security._verifiers import build_verifiers
from loopml.server._guard import GuardPolicy
from loopml.server.app import create_app
from loopml.server.services import PROXY_SCHEME, Services
from loopml.services import open_services
from loopml.store._engine import ENV_PASSWORD as ENV_DB_PASSWORD

ENV_BACKEND = "LOOPML_SERVER_BACKEND_STORE_URI"
ENV_ARTIFACTS = "LOOPML_SERVER_ARTIFACTS_DESTINATION"
ENV_TOKEN = "LOOPML_AUTH_TOKEN"  # noqa: S105 - the name of a variable, not a secret
ENV_BASIC_USER = "LOOPML_AUTH_USERNAME"
# Comma-separated artifact locations, besides the server's own root, that registered model
# versions may point at (e.g. a shared s3://models bucket).
ENV_MODEL_ROOTS = "LOOPML_REGISTRY_ALLOWED_SOURCES"
ENV_MONITORS = "LOOPML_SERVER_MONITORS"  # the --monitors file, for the dashboard
ENV_POLICIES = "LOOPML_SERVER_POLICIES"  # the --policies file, for manual loop triggers
ENV_FEATURES = "LOOPML_SERVER_FEATURES"  # the --features file (feature views)
ENV_ONLINE_STORE = "LOOPML_SERVER_ONLINE_STORE"  # the --online-store URI (default in-process)
# Comma-separated module:attr of the pipelines this server may run (--pipelines).
ENV_PIPELINES = "LOOPML_SERVER_PIPELINES"
# This replica's name in the control plane's leader lease (loopml.ha), for /health/leader.
ENV_REPLICA = "LOOPML_REPLICA_ID"
ENV_BASIC_PASSWORD = "LOOPML_AUTH_PASSWORD"  # noqa: S105 - the name of a variable, not a secret
# Secrets the server hands to its worker processes through 0600 files, never their
# environment (each NAME may also be given as NAME_FILE; see loopml._secrets).
SECRETS = (ENV_TOKEN, ENV_BASIC_PASSWORD, ENV_DB_PASSWORD)


def build_services(
    backend_store_uri: str,
    artifacts_destination: str,
    token: str | None = None,
    basic: tuple[str, str] | None = None,
    pipelines: str | list[str] | None = None,
    settings: Settings | None = None,
    jwt_verifiers: Sequence[CredentialVerifier] = (),
) -> Services:
    """Stores, auth and the pipeline registry from settings. ``pipelines``: the operator's
    ``module:attr`` references (imported now; requests can name only these). Raises
    ``InvalidParameterValue`` for a bad URI or reference. ``settings`` (default: loaded
    now) gives the extra registry sources."""
    settings = settings or load_settings()
    # The stores come from the composition root (loopml.services); runs get
    # mlflow-artifacts:/ URIs so that remote clients upload through this server.
    process = open_services(settings.model_copy(update={
        "backend_store_uri": backend_store_uri,
        "artifacts_destination": artifacts_destination}), server=True)
    assert process.blobs is not None
    blobs = process.blobs
    _refuse_importable_root(blobs.root_uri)
    from loopml.pipelines._registry import PipelineRegistry

    sources = settings.registry_allowed_sources  # env or the file
    extra = [r.strip() for r in sources.split(",") if r.strip()]
    runnable = PipelineRegistry.load(pipelines)
    jwt = [*jwt_verifiers, *_oidc_verifiers(settings)]
    # A server given an OIDC issuer expects signed-in callers: requests without credentials
    # are refused instead of running as the anonymous loopback principal.
    auth = Authenticator(token, basic, build_verifiers(process.identities, jwt),
                         required=settings.auth_required or bool(jwt))
    return Services(
        store=process.tracking, blobs=blobs, registry=process.registry,
        deployments=process.deployments, monitoring=process.monitoring,
        pipelines=process.pipelines, loops=process.loops,
        auth=auth, identities=process.identities,
        inline_store_calls=backend_store_uri.startswith("sqlite"),
        allowed_model_roots=[PROXY_SCHEME, blobs.root_uri, *extra], runnable=runnable,
        audit=process.audit, entity_scope=process.entity_scope, process=process,
    )


def _oidc_verifiers(settings: Settings) -> list[CredentialVerifier]:
    """The OIDC JWT verifier when ``oidc_issuer`` is set (security/oidc.py)."""
    from loopml.security.oidc import JWTVerifier, config_from_settings

    config = config_from_settings(settings)
    return [JWTVerifier(config)] if config else []


def _refuse_importable_root(root: str) -> None:
    """An artifact root that is itself on ``sys.path`` would let an uploaded ``yaml.py``
    shadow a module the server imports later: refuse it (misconfiguration fails loudly)."""
    if "://" in root:
        return
    here = Path(root).resolve()
    on_path = [p for p in sys.path if Path(p or os.getcwd()).resolve() == here]
    if on_path:
        raise InvalidParameterValue(
            f"The artifact root {root} is on the Python import path (sys.path), so an "
            "uploaded artifact could be imported as code. Serve artifacts from another "
            "folder, or start the server from another folder / without that PYTHONPATH entry.")


def auth_from_env() -> tuple[str | None, tuple[str, str] | None]:
    """(bearer token, (user, password)) from the environment: each secret from its variable
    or from the file its ``_FILE`` variable names (see loopml._secrets)."""
    token = read_secret(ENV_TOKEN)
    user, password = os.environ.get(ENV_BASIC_USER), read_secret(ENV_BASIC_PASSWORD)
    return token, ((user, password) if user and password else None)


def app_from_env() -> Starlette:
    token, basic = auth_from_env()
    settings = load_settings()
    services = build_services(
        os.environ[ENV_BACKEND], os.environ[ENV_ARTIFACTS], token, basic,
        os.environ.get(ENV_PIPELINES), settings,
    )
    services.max_body_bytes = settings.max_body_bytes
    services.trust_proxy = settings.trust_proxy
    services.guard = GuardPolicy.for_bind(settings.bind_host, settings.allowed_hosts,
                                          settings.cors_allowed_origins, form_prefixes=("/ui/",))
    if os.environ.get(ENV_MONITORS):
        from loopml.monitoring.scheduler import load_specs

        services.monitor_specs = load_specs(os.environ[ENV_MONITORS])
    if os.environ.get(ENV_FEATURES):
        from loopml.features.service import FeatureService

        services.features = FeatureService.open(os.environ[ENV_FEATURES],
                                                os.environ.get(ENV_ONLINE_STORE) or None)
    if os.environ.get(ENV_POLICIES):
        from loopml.automation import load_policies

        services.policies = load_policies(os.environ[ENV_POLICIES])
        for p in services.policies:  # a policy runs only a registered pipeline
            services.runnable.check(p.retrain.pipeline, f"Policy {p.name!r}: pipeline")
    app = create_app(services)
    from loopml.server._access_log import configure_logging

    configure_logging(settings.log_level, settings.access_log)
    tune_for_serving()  # this process is a server from here on
    return app
