"""``loopml k8s render``: the chart's manifests from its values, without Helm.

The objects are exactly those of deploy/helm/loopml (the test renders the chart with real
Helm and compares), built as plain dicts from the validated ``Values``. Order: namespaces,
then the release's objects, then each model server's, then each workspace's.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import yaml

from loopml.k8s import _net, _pods
from loopml.k8s._pods import CONFIG_DIR, CREDENTIALS_DIR, Obj, Release
from loopml.k8s._values import ModelServer, Values

# Prometheus series behind the HPAs' custom metrics (prometheus-adapter rules).
ADAPTER_RULES: list[Obj] = [
    {"seriesQuery": 'loopml_inference_requests_total{namespace!="",pod!=""}',
     "resources": {"overrides": {"namespace": {"resource": "namespace"},
                                 "pod": {"resource": "pod"}}},
     "name": {"matches": "^loopml_inference_requests_total$",
              "as": "loopml_inference_requests_per_second"},
     "metricsQuery": "sum(rate(<<.Series>>{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>)"},
    {"seriesQuery": 'loopml_inference_queue_depth{namespace!="",pod!=""}',
     "resources": {"overrides": {"namespace": {"resource": "namespace"},
                                 "pod": {"resource": "pod"}}},
     "name": {"matches": "^loopml_inference_queue_depth$", "as": "loopml_inference_queue_depth"},
     "metricsQuery": "sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)"},
]
DASHBOARDS = ("loop.json", "monitoring.json", "serving.json")


class _NoAliases(yaml.SafeDumper):
    """Plain YAML: a dict shared by two objects is written twice, not as an anchor."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_all(objs: list[Obj]) -> str:
    """The objects as one YAML stream (what ``kubectl apply -f -`` reads)."""
    return yaml.dump_all(objs, Dumper=_NoAliases, sort_keys=False)


def dump(obj: Obj) -> str:
    return yaml.dump(obj, Dumper=_NoAliases, sort_keys=False)


def dashboard_files() -> dict[str, str]:
    """The Grafana dashboards shipped in the package (deploy/grafana/ links to them)."""
    root = resources.files("loopml.k8s") / "dashboards"
    return {n: (root / n).read_text() for n in DASHBOARDS}


def render(values: Values, release: str = "loopml", namespace: str = "loopml") -> list[Obj]:
    """Every object of the chart for ``values``, release ``release`` in ``namespace``."""
    r = Release(release, namespace, values)
    out: list[Obj] = []
    for w in values.workspaces:
        out.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": w.namespace, "labels": {
                **r.labels("workspace"), "loopml.io/workspace": w.name,
                "pod-security.kubernetes.io/enforce": "restricted"}}})
    out += _pods.credentials_secret(r, namespace)
    out += control_plane(r)
    out += config_maps(r)
    if values.networkPolicy.enabled:
        out += _net.release_policies(r)
    for m in values.modelServers:
        out += model_server(r, m)
    for w in values.workspaces:
        out += workspace(r, w.name)
    if values.ray.enabled:
        out += ray_cluster(r)
    return out


def control_plane(r: Release) -> list[Obj]:
    v, cp, name = r.values, r.values.controlPlane, r.control_plane
    pg = v.external.postgresql
    s3 = v.external.s3
    args = ["server", "--host", "0.0.0.0", "--port", str(cp.port),
            "--workers", str(cp.workers),
            "--auth-token-file", f"{CREDENTIALS_DIR}/auth-token",
            "--backend-store-password-file", f"{CREDENTIALS_DIR}/db-password",
            "--allowed-hosts", _pods.hosts(name, r.namespace, cp.allowedHosts)]
    if cp.monitors:
        args += ["--monitors", f"{CONFIG_DIR}/monitors.yaml"]
    if cp.policies:
        args += ["--policies", f"{CONFIG_DIR}/policies.yaml"]
    if cp.pipelines:
        args += ["--pipelines", ",".join(cp.pipelines)]
    env = [{"name": "LOOPML_BACKEND_STORE_URI",
            "value": f"postgresql://{pg.user}@{pg.host}:{pg.port}/{pg.database}"},
           {"name": "LOOPML_ARTIFACTS_DESTINATION",
            "value": f"s3://{s3.bucket}/{s3.prefix}".rstrip("/")},
           *_pods.env(r)]
    probe = {"httpGet": {"path": "/health", "port": "http"}}
    container = {
        "name": "control-plane", "image": f"{v.image.repository}:{v.image.tag}",
        "imagePullPolicy": v.image.pullPolicy, "args": args, "env": env,
        "ports": [{"name": "http", "containerPort": cp.port, "protocol": "TCP"}],
        "readinessProbe": {**probe, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {**probe, "initialDelaySeconds": 15, "periodSeconds": 10,
                          "failureThreshold": 6},
        "resources": cp.resources.model_dump(),
        "securityContext": _pods.container_security(),
        "volumeMounts": [*_pods.volume_mounts(r),
                         {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}],
    }
    config = [{"name": "config", "configMap": {"name": f"{r.name}-config"}}]
    sel = r.selector("control-plane")
    meta = r.meta(name, "control-plane")
    return [
        *_pods.rbac(r, name, "control-plane", r.namespace,
                   [x.model_dump(exclude_none=True) for x in cp.rbacRules]),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": {
            "replicas": cp.replicas, "selector": {"matchLabels": sel},
            "template": {"metadata": {"labels": r.labels("control-plane"),
                                      "annotations": _scrape(cp.port)},
                         "spec": _pods.pod_spec(r, name, [container], 30, config)}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "type": "ClusterIP", "selector": sel,
            "ports": [{"name": "http", "port": cp.port, "targetPort": "http",
                       "protocol": "TCP"}]}},
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": {
            "minAvailable": cp.podDisruptionBudget.minAvailable,
            "selector": {"matchLabels": sel}}},
    ]


def _scrape(port: int) -> dict[str, str]:
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port),
            "prometheus.io/path": "/metrics"}


def config_maps(r: Release) -> list[Obj]:
    v, cp = r.values, r.values.controlPlane
    data: dict[str, str] = {}
    if cp.monitors:
        data["monitors.yaml"] = yaml.safe_dump(cp.monitors)
    if cp.policies:
        data["policies.yaml"] = yaml.safe_dump(cp.policies)
    out: list[Obj] = [{"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": r.meta(f"{r.name}-config", "control-plane"), "data": data}]
    if v.grafana.dashboards:
        meta = r.meta(f"{r.name}-dashboards", "observability")
        meta["labels"][v.grafana.label] = "1"
        out.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta,
                    "data": dashboard_files()})
    if v.prometheusAdapterRules:
        out.append({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": r.meta(f"{r.name}-prometheus-adapter-rules", "observability"),
                    "data": {"config.yaml": yaml.safe_dump({"rules": ADAPTER_RULES})}})
    return out


def model_server(r: Release, m: ModelServer) -> list[Obj]:
    v, ns = r.values, r.namespace_of(m.workspace)
    name = f"{r.name}-serve-{m.name}"
    s3 = v.external.s3
    args = ["serve", "--serve-deployment", m.deployment, "--host", "0.0.0.0",
            "--port", str(m.port), "--grpc-port", str(m.grpcPort),
            "--workers", str(m.workers), "--grace-seconds", str(m.graceSeconds),
            "--auth-token-file", f"{CREDENTIALS_DIR}/auth-token",
            "--tracking-uri",
            f"http://{r.control_plane}.{r.namespace}.svc:{v.controlPlane.port}",
            "--allowed-hosts", _pods.hosts(name, ns, [])]
    if m.inferenceLog:
        args += ["--inference-log", f"s3://{s3.bucket}/inference-log"]
    env = [{"name": "LOOPML_TRACKING_TOKEN_FILE", "value": f"{CREDENTIALS_DIR}/auth-token"},
           *_pods.env(r)]
    sel = {**r.selector("model-server"), "loopml.io/model-server": m.name}
    labels = {**r.labels("model-server"), "loopml.io/model-server": m.name}
    container = {
        "name": "model-server", "image": f"{v.image.repository}:{v.image.tag}",
        "imagePullPolicy": v.image.pullPolicy, "args": args, "env": env,
        "ports": [{"name": "http", "containerPort": m.port, "protocol": "TCP"},
                  {"name": "grpc", "containerPort": m.grpcPort, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"},
                           "periodSeconds": 2, "failureThreshold": 2},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"},
                          "initialDelaySeconds": 15, "periodSeconds": 10,
                          "failureThreshold": 6},
        "resources": m.resources.model_dump(),
        "securityContext": _pods.container_security(),
        "volumeMounts": _pods.volume_mounts(r),
    }
    meta = {**r.meta(name, "model-server", ns), "labels": labels}
    spec: Obj = {"selector": {"matchLabels": sel}, "template": {
        "metadata": {"labels": labels, "annotations": _scrape(m.port)},
        # SIGTERM drains (readiness 503, in-flight requests finish within --grace-seconds);
        # the kubelet's SIGKILL comes only after that plus a margin.
        "spec": _pods.pod_spec(r, name, [container], m.graceSeconds + 10)}}
    if not m.autoscaling.enabled:
        spec = {"replicas": m.replicas, **spec}
    out = [
        *_pods.rbac(r, name, "model-server", ns,
                   [x.model_dump(exclude_none=True) for x in m.rbacRules]),
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec},
        {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "type": "ClusterIP", "selector": sel, "ports": [
                {"name": "http", "port": m.port, "targetPort": "http", "protocol": "TCP"},
                {"name": "grpc", "port": m.grpcPort, "targetPort": "grpc", "protocol": "TCP",
                 "appProtocol": "grpc"}]}},
    ]
    if m.autoscaling.enabled:
        out.append(_hpa(meta, name, m))
    if v.networkPolicy.enabled:
        out.append(_net.model_server_policy(r, m, name, ns, sel))
    return out


def _hpa(meta: Obj, name: str, m: ModelServer) -> Obj:
    a = m.autoscaling
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": meta, "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                   "name": name},
                "minReplicas": a.minReplicas, "maxReplicas": a.maxReplicas,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": a.cpuUtilization}}},
                    {"type": "Pods", "pods": {
                        "metric": {"name": "loopml_inference_requests_per_second"},
                        "target": {"type": "AverageValue",
                                   "averageValue": a.requestsPerSecond}}},
                    {"type": "Pods", "pods": {
                        "metric": {"name": "loopml_inference_queue_depth"},
                        "target": {"type": "AverageValue", "averageValue": a.queueDepth}}},
                ],
                "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}}}


def workspace(r: Release, ws_name: str) -> list[Obj]:
    w = next(w for w in r.values.workspaces if w.name == ws_name)
    ns = w.namespace
    out: list[Obj] = [
        {"apiVersion": "v1", "kind": "ResourceQuota",
         "metadata": r.meta(f"{r.name}-quota", "workspace", ns), "spec": {"hard": w.quota}},
        {"apiVersion": "v1", "kind": "LimitRange",
         "metadata": r.meta(f"{r.name}-limits", "workspace", ns), "spec": {"limits": [{
             "type": "Container", "default": w.defaultLimit.model_dump(),
             "defaultRequest": w.defaultRequest.model_dump(),
             "max": w.maxLimit.model_dump()}]}},
    ]
    out += _pods.credentials_secret(r, ns)
    if r.values.networkPolicy.enabled:
        out.append(_net.default_deny(r, ns))
    return out


def ray_cluster(r: Release) -> list[Obj]:
    """A KubeRay RayCluster (ray.io/v1) whose pods run the loopml image (with the ray
    extra), so distributed steps import the same code."""
    v, name = r.values, f"{r.name}-ray"
    image = f"{v.image.repository}:{v.image.tag}"

    def template(container: str, res: Any, ports: list[Obj]) -> Obj:
        return {"metadata": {"labels": r.labels("ray")}, "spec": {
            "serviceAccountName": name, "automountServiceAccountToken": False,
            "securityContext": _pods.pod_security(v),
            "containers": [{
                "name": container, "image": image, "imagePullPolicy": v.image.pullPolicy,
                "env": [{"name": "HOME", "value": "/tmp"}, *_pods.env(r)],  # noqa: S108
                "ports": ports, "resources": res.model_dump(),
                "securityContext": _pods.container_security(),
                "volumeMounts": _pods.volume_mounts(r)}],
            "volumes": _pods.volumes(r)}}

    head_ports = [{"name": "gcs-server", "containerPort": 6379},
                  {"name": "dashboard", "containerPort": 8265},
                  {"name": "client", "containerPort": 10001}]
    cluster = {"apiVersion": "ray.io/v1", "kind": "RayCluster",
               "metadata": r.meta(name, "ray"), "spec": {
                   "rayVersion": v.ray.rayVersion,
                   "headGroupSpec": {"rayStartParams": {"dashboard-host": "0.0.0.0"},
                                     "template": template("ray-head", v.ray.head, head_ports)},
                   "workerGroupSpecs": [{
                       "groupName": "workers", "replicas": v.ray.workers, "minReplicas": 0,
                       "maxReplicas": max(v.ray.maxWorkers, v.ray.workers),
                       "rayStartParams": {},
                       "template": template("ray-worker", v.ray.worker, [])}]}}
    out = [*_pods.rbac(r, name, "ray", r.namespace, []), cluster]
    if v.networkPolicy.enabled:
        out.append(_net.ray_policy(r, name))
    return out
