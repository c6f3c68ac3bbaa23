"""The values contract of the Helm chart ``deploy/helm/loopml``: one pydantic model that both
``loopml k8s render`` and the chart obey.

The defaults here ARE the chart's ``values.yaml`` and the chart's ``values.schema.json`` is
generated from this model (``loopml k8s schema``); tests/deploy/ checks both files against it,
and renders the chart with real Helm (the Go engine of ``helm-python-sdk``) to compare every
object with the Python renderer's. Values that would deploy an insecure pod (root, no
resource limits, writable root filesystem) are not expressible: the model refuses them and
so does Helm through the schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from loopml.errors import InvalidConfig

_CPU = r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$"
_MEM = r"^[0-9]+(Ki|Mi|Gi|Ti|K|M|G|T)?$"
_DNS = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CpuMemory(_Model):
    cpu: str = Field(pattern=_CPU, description="CPU, e.g. 500m or 2.")
    memory: str = Field(pattern=_MEM, description="Memory, e.g. 512Mi.")


class Resources(_Model):
    """Both requests and limits, cpu and memory: a pod without limits is refused."""

    requests: CpuMemory
    limits: CpuMemory


class RbacRule(_Model):
    """One rule of a workload's Role: named API groups, resources and verbs, never ``*``
    (a wildcard would turn the minimal Role into a broad one)."""

    apiGroups: list[str] = Field(description="API groups ('' is the core group).",
                                 json_schema_extra={"items": {"pattern": r"^$|^[a-z0-9.-]+$"}})
    resources: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9./-]*$")]] = Field(
        min_length=1, description="Resources (no '*').")
    verbs: list[Literal["get", "list", "watch", "create", "update", "patch", "delete"]] = \
        Field(min_length=1, description="Verbs (no '*', no escalate/bind/impersonate).")
    resourceNames: list[str] | None = Field(default=None, description="Only these objects.")

    @field_validator("apiGroups")
    @classmethod
    def _no_wildcard(cls, v: list[str]) -> list[str]:
        if "*" in v:
            raise ValueError("apiGroups '*' grants every API group: name the groups")
        return v


class Image(_Model):
    repository: str = Field(default="ghcr.io/loopml/loopml", min_length=1, description="The loopml image (built from the Dockerfile).")
    tag: str = Field(default="0.1.0", min_length=1, description="A fixed tag or a digest (never "
                     "'latest').", json_schema_extra={"not": {"const": "latest"}})
    pullPolicy: Literal["IfNotPresent", "Always", "Never"] = Field(default="IfNotPresent", description="IfNotPresent, Always or Never.")


    @field_validator("tag")
    @classmethod
    def _pinned(cls, v: str) -> str:
        if v == "latest":
            raise ValueError("image.tag 'latest' is not pinned: give a version or a digest")
        return v


class PodSecurity(_Model):
    """The user and group every pod runs as. 0 (root) is refused."""

    runAsUser: int = Field(default=10001, ge=1, description="User id of every container (not 0).")
    runAsGroup: int = Field(default=10001, ge=1, description="Group id of every container (not 0).")
    fsGroup: int = Field(default=10001, ge=1, description="Group owning the mounted volumes (not 0).")


class SecretRef(_Model):
    name: str = Field(pattern=_DNS)
    key: str = Field(min_length=1)


class Credentials(_Model):
    """The Secret with the credentials loopml needs, mounted as files under
    /var/run/secrets/loopml/credentials. ``existingSecret``: a Secret you created (keys
    ``auth-token``, ``db-password``, ``aws-credentials``); else the chart creates one from
    the values below (convenient for tests; keep real credentials out of values files)."""

    existingSecret: str = Field(default="", pattern=r"^$|" + _DNS, description="A Secret you created with keys auth-token, db-password and aws-credentials; empty: the chart creates one from the values below.")
    authToken: str = Field(default="", description="Bearer token of both servers (chart-made Secret only).")
    dbPassword: str = Field(default="", description="PostgreSQL password (chart-made Secret only).")
    awsAccessKeyId: str = Field(default="", description="S3 access key (chart-made Secret only; empty: the pod's own identity).")
    awsSecretAccessKey: str = Field(default="", description="S3 secret key (chart-made Secret only).")


class Postgres(_Model):
    host: str = Field(default="postgresql", min_length=1, description="PostgreSQL host (metadata store).")
    port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    database: str = Field(default="loopml", min_length=1, description="Database name.")
    user: str = Field(default="loopml", min_length=1, description="Database user (password: credentials db-password).")


class Redis(_Model):
    enabled: bool = Field(default=False, description="Open egress to Redis (online feature store).")
    port: int = Field(default=6379, ge=1, le=65535, description="Redis port.")


class S3(_Model):
    bucket: str = Field(default="loopml", min_length=1, description="Bucket of artifacts and the inference log.")
    prefix: str = Field(default="artifacts", description="Artifact root inside the bucket.")
    endpoint: str = Field(default="", description="S3-compatible endpoint URL; empty: AWS.")
    region: str = Field(default="us-east-1", description="AWS_DEFAULT_REGION.")
    port: int = Field(default=443, ge=1, le=65535, description="Egress port the NetworkPolicy opens.")


class External(_Model):
    postgresql: Postgres = Postgres()
    redis: Redis = Redis()
    s3: S3 = S3()


class Disruption(_Model):
    minAvailable: int = Field(default=1, ge=0, description="Pods a voluntary disruption must leave running.")


class ControlPlane(_Model):
    replicas: int = Field(default=2, ge=1, description="Control plane pods.")
    workers: int = Field(default=2, ge=1, description="`loopml server --workers`.")
    port: int = Field(default=5000, ge=1024, le=65535, description="HTTP port of the tracking server and dashboard.")
    resources: Resources = Resources(requests=CpuMemory(cpu="250m", memory="512Mi"),
                                     limits=CpuMemory(cpu="1", memory="1Gi"))
    monitors: list[dict[str, Any]] = Field(default_factory=list, description="Monitor specs "
                                           "(`loopml server --monitors`).")
    policies: list[dict[str, Any]] = Field(default_factory=list, description="Loop policies "
                                           "(`loopml server --policies`).")
    pipelines: list[str] = Field(default_factory=list, description="module:attr pipelines "
                                 "the server may run (installed in the image).")
    allowedHosts: list[str] = Field(default_factory=list, description="Extra Host headers.")
    podDisruptionBudget: Disruption = Disruption()
    rbacRules: list[RbacRule] = Field(default_factory=list, description="Rules of its "
                                            "Role; loopml calls no Kubernetes API.")


class Autoscaling(_Model):
    enabled: bool = Field(default=True, description="An HPA instead of a fixed replica count.")
    minReplicas: int = Field(default=2, ge=1, description="Fewest pods.")
    maxReplicas: int = Field(default=10, ge=1, description="Most pods.")
    cpuUtilization: int = Field(default=70, ge=1, le=100, description="Target average CPU, percent.")
    requestsPerSecond: str = Field(default="50", pattern=r"^[0-9]+(\.[0-9]+)?m?$",
                                   description="Target requests/s per pod (custom metric).")
    queueDepth: str = Field(default="8", pattern=r"^[0-9]+(\.[0-9]+)?m?$",
                            description="Target queued requests per pod (custom metric).")


class ModelServerDefaults(_Model):
    """What every ``modelServers`` entry gets unless it sets the key (``modelServerDefaults``;
    merged like Helm merges values: mappings key by key)."""

    workspace: str = Field(default="", description="A workspace of `workspaces`: runs in its "
                           "namespace. Empty: the release namespace.")
    replicas: int = Field(default=2, ge=1, description="Pods when autoscaling is off.")
    workers: int = Field(default=1, ge=1, description="`loopml serve --workers`.")
    port: int = Field(default=8080, ge=1024, le=65535, description="REST port (V2, /invocations, /metrics).")
    grpcPort: int = Field(default=8081, ge=1024, le=65535, description="gRPC port (Open Inference Protocol).")
    graceSeconds: int = Field(default=30, ge=1, le=600, description="`--grace-seconds`; the pod's "
                              "terminationGracePeriodSeconds is this + 10.")
    inferenceLog: bool = Field(default=True, description="Write the inference log to S3.")
    resources: Resources = Resources(requests=CpuMemory(cpu="500m", memory="512Mi"),
                                     limits=CpuMemory(cpu="2", memory="2Gi"))
    autoscaling: Autoscaling = Autoscaling()
    rbacRules: list[RbacRule] = Field(default_factory=list, description="Rules of its "
                                      "Role; loopml calls no Kubernetes API.")


class ModelServer(ModelServerDefaults):
    """One ``loopml serve --serve-deployment DEPLOYMENT`` Deployment."""

    name: str = Field(pattern=_DNS, max_length=40, description="Suffix of the Deployment's name (<release>-serve-<name>).")
    deployment: str = Field(min_length=1, description="The loopml deployment it serves.")

    @model_validator(mode="after")
    def _bounds(self) -> ModelServer:
        a = self.autoscaling
        if a.minReplicas > a.maxReplicas:
            raise ValueError(f"modelServers[{self.name}].autoscaling: minReplicas "
                             f"{a.minReplicas} > maxReplicas {a.maxReplicas}")
        if self.port == self.grpcPort:
            raise ValueError(f"modelServers[{self.name}]: port and grpcPort are both "
                             f"{self.port}")
        return self


class WorkspaceDefaults(_Model):
    """What every ``workspaces`` entry gets unless it sets the key (``workspaceDefaults``)."""

    quota: dict[str, str] = Field(default_factory=lambda: {
        "requests.cpu": "8", "requests.memory": "16Gi", "limits.cpu": "16",
        "limits.memory": "32Gi", "pods": "40"}, description="ResourceQuota spec.hard.")
    defaultRequest: CpuMemory = Field(default=CpuMemory(cpu="250m", memory="256Mi"), description="LimitRange default requests per container.")
    defaultLimit: CpuMemory = Field(default=CpuMemory(cpu="1", memory="1Gi"), description="LimitRange default limits per container.")
    maxLimit: CpuMemory = Field(default=CpuMemory(cpu="4", memory="8Gi"), description="LimitRange largest limits per container.")


class Workspace(WorkspaceDefaults):
    """A loopml workspace mapped to its own namespace with a quota and default limits."""

    name: str = Field(pattern=_DNS, description="The loopml workspace.")
    namespace: str = Field(pattern=_DNS, max_length=63, description="Its namespace (the chart creates it).")


class NetworkPolicy(_Model):
    """Default deny, then: clients -> control plane and model servers, model servers ->
    control plane, Prometheus -> /metrics, everything -> DNS and the external services."""

    enabled: bool = Field(default=True, description="Default-deny NetworkPolicies plus the allowed flows.")
    clientNamespaceLabels: dict[str, str] = Field(
        default_factory=lambda: {"loopml.io/client": "true"},
        description="Namespaces whose pods may call the APIs.")
    prometheusNamespaceLabels: dict[str, str] = Field(
        default_factory=lambda: {"kubernetes.io/metadata.name": "monitoring"},
        description="The namespace Prometheus scrapes from.")
    externalCidr: str = Field(default="0.0.0.0/0", description="Where the external services are "
                              "(egress to their ports only).")


class RayCluster(_Model):
    """A KubeRay RayCluster (needs the KubeRay operator) for distributed training steps."""

    enabled: bool = False
    rayVersion: str = Field(default="2.40.0", description="Ray version of the image (KubeRay's rayVersion).")
    workers: int = Field(default=2, ge=0, description="Worker pods.")
    maxWorkers: int = Field(default=4, ge=0, description="Most worker pods (KubeRay maxReplicas).")
    head: Resources = Field(
        default=Resources(requests=CpuMemory(cpu="1", memory="2Gi"),
                          limits=CpuMemory(cpu="2", memory="4Gi")),
        description="Head pod resources.")
    worker: Resources = Field(
        default=Resources(requests=CpuMemory(cpu="1", memory="2Gi"),
                          limits=CpuMemory(cpu="2", memory="4Gi")),
        description="Worker pod resources.")


class Grafana(_Model):
    dashboards: bool = Field(default=True, description="ConfigMap of the dashboards, labelled for "
                             "Grafana's sidecar.")
    label: str = Field(default="grafana_dashboard", description="Label Grafana's dashboard sidecar watches.")


class Values(_Model):
    image: Image = Image()
    podSecurity: PodSecurity = PodSecurity()
    credentials: Credentials = Credentials(existingSecret="loopml-credentials")
    workspaceSecrets: str = Field(default="", pattern=r"^$|" + _DNS, description="A Secret of "
                                  "${secret:NAME} values (the files secrets backend).")
    external: External = External()
    controlPlane: ControlPlane = ControlPlane()
    modelServerDefaults: ModelServerDefaults = ModelServerDefaults()
    modelServers: list[ModelServer] = Field(default_factory=list)
    workspaceDefaults: WorkspaceDefaults = WorkspaceDefaults()
    workspaces: list[Workspace] = Field(default_factory=list)
    networkPolicy: NetworkPolicy = NetworkPolicy()
    ray: RayCluster = RayCluster()
    grafana: Grafana = Grafana()
    prometheusAdapterRules: bool = Field(default=True, description="ConfigMap of prometheus-adapter "
                                         "rules for the HPAs' custom metrics.")

    @model_validator(mode="after")
    def _consistent(self) -> Values:
        c = self.credentials
        if not c.existingSecret and not (c.authToken and c.dbPassword):
            raise ValueError("credentials: set existingSecret, or authToken and dbPassword "
                             "(the servers refuse to listen beyond loopback without auth)")
        names = [m.name for m in self.modelServers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"modelServers: name {dup[0]!r} appears twice")
        known = {w.name for w in self.workspaces}
        for m in self.modelServers:
            if m.workspace and m.workspace not in known:
                raise ValueError(f"modelServers[{m.name}].workspace {m.workspace!r} is not "
                                 f"in workspaces ({sorted(known) or 'none'}); add it there")
        return self


class _Entries(_Model):
    """The list entries as given (``values.schema.json`` checks them before merging too)."""

    modelServers: list[ModelServer]
    workspaces: list[Workspace]


def load_values(overrides: list[dict[str, Any]] | None = None, where: str = "values") -> Values:
    """The chart defaults deep-merged with each of ``overrides`` in order (Helm's ``-f``
    semantics: mappings merge, lists and scalars replace). Raises ``InvalidConfig`` naming
    every bad key and what to do."""
    merged = default_values()
    for o in overrides or []:
        if not isinstance(o, dict):
            raise InvalidConfig(f"{where}: expected a mapping of values, got {type(o).__name__}")
        merged = deep_merge(merged, o)
    try:  # as Helm's schema does, before the defaults fill them: an entry's own keys
        _Entries.model_validate({k: merged.get(k) or [] for k in ("modelServers",
                                                                 "workspaces")})
    except ValidationError as e:
        from loopml._config import format_errors

        raise InvalidConfig(format_errors(e, where, _Entries)) from None
    for items, defaults in (("modelServers", "modelServerDefaults"),
                            ("workspaces", "workspaceDefaults")):
        if isinstance(merged.get(items), list) and isinstance(merged.get(defaults), dict):
            merged[items] = [deep_merge(merged[defaults], i) if isinstance(i, dict) else i
                             for i in merged[items]]
    try:
        return Values.model_validate(merged)
    except ValidationError as e:
        from loopml._config import format_errors

        raise InvalidConfig(format_errors(e, where, Values)) from None


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def default_values() -> dict[str, Any]:
    """The chart's values.yaml, as data."""
    return Values().model_dump(mode="json")


def values_schema() -> dict[str, Any]:
    """The chart's values.schema.json (JSON Schema 2020-12, which Helm 3.18+/4 read)."""
    schema = Values.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    # Values._consistent, for Helm: without an existing Secret the chart needs both values.
    schema["$defs"]["Credentials"].update({
        "if": {"properties": {"existingSecret": {"const": ""}}},
        "then": {"properties": {"authToken": {"minLength": 1},
                                "dbPassword": {"minLength": 1}}},
    })
    return schema
