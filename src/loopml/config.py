"""Settings: one object, read in one place, used by every entry point (the CLI, the
tracking client and fluent API, the server, ``loopml serve``).

Each setting comes from, highest first: a CLI flag, the environment (``LOOPML_<NAME>``),
the settings file (YAML; ``--config FILE`` or ``LOOPML_CONFIG``), the default. Embedded
defaults need nothing: metadata in SQLite and artifacts in a folder, both under
``LOOPML_HOME`` (default ``./.loopml``). The table of settings is in
docs/configuration.md; a test checks that every field here is documented there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from loopml.errors import InvalidConfig

ENV_PREFIX = "LOOPML_"
ENV_CONFIG = "LOOPML_CONFIG"


class _FileSource(PydanticBaseSettingsSource):
    """The settings file: ``config_file`` given to :func:`load_settings` (the ``--config``
    flag), else ``LOOPML_CONFIG``. A missing file or a syntax error is an InvalidConfig."""

    def __init__(self, settings_cls: type[BaseSettings], path: str | None) -> None:
        super().__init__(settings_cls)
        self.path = path

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ returns the whole mapping

    def __call__(self) -> dict[str, Any]:
        if not self.path:
            return {}
        from loopml._config import read_yaml

        raw = read_yaml(self.path)
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise InvalidConfig(f"{self.path}: expected a mapping of settings, got "
                                f"{type(raw).__name__}")
        return raw


class Settings(BaseSettings):
    """Every loopml setting. Field ``x`` is the flag ``--x`` (where a command has it), the
    variable ``LOOPML_X`` and the key ``x`` of the settings file."""

    # An empty variable means "not set" (the CLI clears a flag's variable that way).
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True,
                                      env_ignore_empty=True, populate_by_name=True)

    home: Path = Field(Path(".loopml"), description="Folder of the embedded store.")
    tracking_uri: str | None = Field(None, description="Where clients and commands track: "
                                     "http(s)://server, sqlite:///file, postgresql://...")
    tracking_token: str | None = Field(None, description="Bearer token sent to a server.")
    tracking_token_file: Path | None = Field(None, description="File holding tracking_token "
                                             "(a mounted Kubernetes Secret).")
    backend_store_uri: str | None = Field(None, description="The server's metadata store.")
    artifacts_destination: str | None = Field(None, description="The server's artifact root.")
    auth_token: str | None = Field(None, description="Bearer token the server requires.")
    auth_username: str | None = Field(None, description="Basic-auth user the server requires.")
    auth_password: str | None = Field(None, description="Basic-auth password.")
    auth_required: bool = Field(False, description="The server refuses requests without "
                                "credentials (users, API tokens) even on loopback.")
    registry_allowed_sources: str = Field("", description="Comma-separated extra artifact "
                                          "locations registered versions may point at.")
    server_pipelines: str = Field("", description="Comma-separated module:attr pipelines "
                                  "`loopml server` may run (its --pipelines).")
    debug: bool = Field(False, description="CLI errors show their traceback.")
    # The server's HTTP guard and body limit (the server CLI sets these from its flags for
    # its worker processes).
    max_body_bytes: int = Field(64 * 1024 * 1024, gt=0, description="Largest request body.")
    bind_host: str = Field("127.0.0.1", validation_alias=AliasChoices(
        "bind_host", "LOOPML_SERVER_HOST"), description="The address the server binds.")
    allowed_hosts: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Host headers accepted besides localhost names and the bound address.")
    cors_allowed_origins: Annotated[tuple[str, ...], NoDecode] = Field(
        (), description="Origins allowed to send state-changing requests.")
    trust_proxy: bool = Field(False, description="Believe X-Forwarded-Proto/-For.")
    # The secrets store (loopml.security.secrets). The built-in backend's key comes from
    # secrets_key_file, else LOOPML_SECRETS_KEY (a variable, never a settings-file key).
    secrets_backend: Literal["builtin", "env", "files"] = Field(
        "builtin", description="Where ${secret:NAME} values live: builtin, env or files.")
    secrets_key_file: Path | None = Field(
        None, description="File with the built-in backend's AES-256 key(s), base64.")
    secrets_dir: Path | None = Field(
        None, description="Folder of mounted secret files (secrets_backend: files).")
    secrets_env_prefix: str = Field(
        "LOOPML_SECRET_", min_length=1,
        description="Variable prefix of the env secrets backend.")
    # OpenID Connect (security/oidc.py, docs/security.md): all or nothing, checked below.
    oidc_issuer: str | None = Field(None, description="OIDC provider's issuer URL.")
    oidc_audience: str | None = Field(None, description="'aud' JWT bearer tokens must carry "
                                      "(default: oidc_client_id).")
    oidc_client_id: str | None = Field(None, description="loopml's client id at the provider.")
    oidc_client_secret_file: Path | None = Field(None, description="File holding the client "
                                                 "secret (dashboard sign-in).")
    oidc_claim_mapping_file: Path | None = Field(None, description="YAML claim -> role mapping.")
    oidc_leeway_s: float = Field(30.0, ge=0, le=300, description="Clock skew allowed on exp/nbf.")
    oidc_jwks_min_refetch_s: float = Field(60.0, ge=0, description="Least seconds between JWKS "
                                           "refetches caused by unknown keys.")
    # The access-anomaly monitor over the audit trail, scheduled in `loopml server`
    # (security/_audit_schedule.py).
    audit_monitor: bool = Field(True, description="Run the audit-log access anomaly monitor "
                                "inside `loopml server`.")
    audit_monitor_interval_s: float = Field(60.0, ge=1.0, description="Seconds between "
                                            "audit monitor passes.")
    audit_monitor_window_s: int = Field(300, ge=60, description="Audit monitor window "
                                        "length in seconds.")
    audit_monitor_baseline_windows: int = Field(12, ge=1, description="Windows of history "
                                                "per identity (the baseline).")
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="Level of the servers' loopml.* loggers.")
    access_log: bool = Field(True, description="One log line per request (both servers).")

    @model_validator(mode="before")
    @classmethod
    def _token_from_file(cls, data: Any) -> Any:
        """tracking_token_file fills tracking_token (a token given directly wins)."""
        if not isinstance(data, dict) or not data.get("tracking_token_file") or \
                data.get("tracking_token"):
            return data
        path = Path(data["tracking_token_file"]).expanduser()
        try:
            token = path.read_text().strip()
        except OSError as e:
            raise ValueError(f"tracking_token_file {path}: cannot read it ({e.strerror})") \
                from None
        if not token:
            raise ValueError(f"tracking_token_file {path}: the file is empty")
        return {**data, "tracking_token": token}

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, v: Any) -> Any:
        return v.lower() if isinstance(v, str) else v

    @field_validator("allowed_hosts", "cors_allowed_origins", mode="before")
    @classmethod
    def _comma_list(cls, v: Any) -> Any:
        """``"a, b"`` (a variable) -> ``("a", "b")``; a YAML list passes as it is."""
        if isinstance(v, str):
            return tuple(p.strip() for p in v.split(",") if p.strip())
        return v

    @model_validator(mode="after")
    def _secrets_configured(self) -> Settings:
        """A secrets backend chosen explicitly must be usable now, not at its first use."""
        import os

        if self.secrets_backend == "files" and self.secrets_dir is None:
            raise ValueError("secrets_backend: files needs secrets_dir (LOOPML_SECRETS_DIR), "
                             "the folder where the secret files are mounted")
        if self.secrets_dir is not None and not self.secrets_dir.expanduser().is_dir():
            raise ValueError(f"secrets_dir {self.secrets_dir} is not a folder")
        if self.secrets_key_file is not None and not self.secrets_key_file.expanduser().is_file():
            raise ValueError(f"secrets_key_file {self.secrets_key_file} is not a file; make one "
                             "with `loopml secrets keygen > FILE`")
        explicit = "secrets_backend" in self.model_fields_set
        has_key = self.secrets_key_file is not None or bool(
            os.environ.get("LOOPML_SECRETS_KEY") or os.environ.get("LOOPML_SECRETS_KEY_FILE"))
        if explicit and self.secrets_backend == "builtin" and not has_key:
            raise ValueError("secrets_backend: builtin needs a key: set secrets_key_file "
                             "(LOOPML_SECRETS_KEY_FILE) to a file made by `loopml secrets "
                             "keygen`, or LOOPML_SECRETS_KEY")
        return self

    @model_validator(mode="after")
    def _oidc_complete(self) -> Settings:
        """Half an OIDC configuration fails loudly instead of silently disabling sign-in."""
        given = [n for n in ("oidc_audience", "oidc_client_id", "oidc_client_secret_file",
                             "oidc_claim_mapping_file") if getattr(self, n) is not None]
        if given and not self.oidc_issuer:
            raise ValueError(f"{', '.join(given)} set without oidc_issuer: set "
                             "LOOPML_OIDC_ISSUER too, or unset them")
        if self.oidc_issuer:
            from urllib.parse import urlsplit

            url = urlsplit(self.oidc_issuer)
            local = url.hostname in ("localhost", "127.0.0.1", "::1")
            if url.scheme != "https" and not (url.scheme == "http" and local):
                raise ValueError(f"oidc_issuer {self.oidc_issuer!r} must be an https:// URL "
                                 "(http:// only for a provider on loopback)")
            if not (self.oidc_audience or self.oidc_client_id):
                raise ValueError("oidc_issuer needs oidc_audience or oidc_client_id (the "
                                 "'aud' tokens must carry)")
            if self.oidc_client_secret_file and not self.oidc_client_id:
                raise ValueError("oidc_client_secret_file needs oidc_client_id")
            for n in ("oidc_client_secret_file", "oidc_claim_mapping_file"):
                f = getattr(self, n)
                if f is not None and not Path(f).expanduser().is_file():
                    raise ValueError(f"{n}: no file {f}")
        return self

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        import os

        kwargs = getattr(init_settings, "init_kwargs", {})
        path = kwargs.pop("config_file", None) or os.environ.get(ENV_CONFIG) or None
        return init_settings, env_settings, _FileSource(settings_cls, path)

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def backend_uri(self) -> str:
        """``backend_store_uri``, else SQLite under ``home``."""
        return self.backend_store_uri or f"sqlite:///{self.resolved_home / 'loopml.db'}"

    @property
    def artifact_root(self) -> str:
        """``artifacts_destination``, else ``home``/artifacts."""
        return self.artifacts_destination or str(self.resolved_home / "artifacts")

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        if self.auth_username and self.auth_password:
            return self.auth_username, self.auth_password
        return None


def env_name(field: str) -> str:
    """The variable of setting ``field`` (``LOOPML_<FIELD>`` unless it has its own)."""
    alias = Settings.model_fields[field].validation_alias
    for choice in getattr(alias, "choices", ()):
        if isinstance(choice, str) and choice.startswith(ENV_PREFIX):
            return choice
    return f"{ENV_PREFIX}{field.upper()}"


def load_settings(config_file: str | Path | None = None, **flags: Any) -> Settings:
    """The settings, from ``flags`` (None means "not given"), the environment, the file
    (``config_file``, else ``LOOPML_CONFIG``) and the defaults, in that order. Raises
    ``InvalidConfig`` naming the setting and its sources."""
    given = {k: v for k, v in flags.items() if v is not None}
    if config_file is not None:
        given["config_file"] = str(config_file)
    try:
        return Settings(**given)
    except ValidationError as e:
        import os

        from loopml._config import format_errors

        src = config_file or os.environ.get(ENV_CONFIG)
        where = f"settings (flags, {ENV_PREFIX}* variables" + (f", {src})" if src else ")")
        names = sorted({str(err["loc"][0]) for err in e.errors() if err["loc"]}
                       & set(Settings.model_fields))
        hint = f" (set by {', '.join(env_name(n) for n in names)})" if names else ""
        raise InvalidConfig(format_errors(e, where, Settings) + hint) from None


def loopml_home() -> Path:
    """The resolved ``LOOPML_HOME`` folder (settings: flag > env > file > ``./.loopml``)."""
    return load_settings().resolved_home


def default_backend_uri() -> str:
    """The metadata store URI from the settings (default: SQLite under ``LOOPML_HOME``)."""
    return load_settings().backend_uri


def default_artifact_root() -> str:
    """The artifact root from the settings (default: ``LOOPML_HOME/artifacts``)."""
    return load_settings().artifact_root
