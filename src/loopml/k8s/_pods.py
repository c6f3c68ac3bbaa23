"""Pieces every loopml pod shares: labels, the hardened security contexts, the volumes
(credentials Secret, writable emptyDirs) and the environment of the external services.

Each function mirrors a named template of deploy/helm/loopml/templates/_helpers.tpl; the
chart and ``loopml k8s render`` are compared object by object in tests/deploy/.
"""

from __future__ import annotations

from typing import Any

from loopml.k8s._values import Values

CREDENTIALS_DIR = "/var/run/secrets/loopml/credentials"
WORKSPACE_SECRETS_DIR = "/var/run/secrets/loopml/workspace"
HOME = "/var/lib/loopml"
CONFIG_DIR = "/etc/loopml"
Obj = dict[str, Any]


class Release:
    """The release name and namespace (``helm install NAME -n NAMESPACE``)."""

    def __init__(self, name: str, namespace: str, values: Values) -> None:
        self.name, self.namespace, self.values = name, namespace, values

    def labels(self, component: str) -> dict[str, str]:
        return {**self.selector(component), "app.kubernetes.io/part-of": "loopml",
                "app.kubernetes.io/version": self.values.image.tag}

    def selector(self, component: str) -> dict[str, str]:
        return {"app.kubernetes.io/name": "loopml", "app.kubernetes.io/instance": self.name,
                "app.kubernetes.io/component": component}

    def meta(self, name: str, component: str, namespace: str | None = None) -> Obj:
        return {"name": name, "namespace": namespace or self.namespace,
                "labels": self.labels(component)}

    @property
    def control_plane(self) -> str:
        return f"{self.name}-control-plane"

    @property
    def credentials_secret(self) -> str:
        return self.values.credentials.existingSecret or f"{self.name}-credentials"

    def namespace_of(self, workspace: str) -> str:
        for w in self.values.workspaces:
            if w.name == workspace:
                return w.namespace
        return self.namespace


def pod_security(v: Values) -> Obj:
    s = v.podSecurity
    return {"runAsNonRoot": True, "runAsUser": s.runAsUser, "runAsGroup": s.runAsGroup,
            "fsGroup": s.fsGroup, "seccompProfile": {"type": "RuntimeDefault"}}


def container_security() -> Obj:
    return {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}}


def volumes(r: Release) -> list[Obj]:
    out: list[Obj] = [
        {"name": "credentials", "secret": {"secretName": r.credentials_secret,
                                           "defaultMode": 0o440}},
        {"name": "home", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
    ]
    if r.values.workspaceSecrets:
        out.append({"name": "workspace-secrets", "secret": {
            "secretName": r.values.workspaceSecrets, "defaultMode": 0o440}})
    return out


def volume_mounts(r: Release) -> list[Obj]:
    out: list[Obj] = [
        {"name": "credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True},
        {"name": "home", "mountPath": HOME},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - an emptyDir in the pod
    ]
    if r.values.workspaceSecrets:
        out.append({"name": "workspace-secrets", "mountPath": WORKSPACE_SECRETS_DIR,
                    "readOnly": True})
    return out


def env(r: Release) -> list[Obj]:
    """Variables every loopml container gets: home, S3 and the secrets backend."""
    s3 = r.values.external.s3
    out: list[Obj] = [
        {"name": "LOOPML_HOME", "value": HOME},
        {"name": "AWS_DEFAULT_REGION", "value": s3.region},
        {"name": "AWS_SHARED_CREDENTIALS_FILE", "value": f"{CREDENTIALS_DIR}/aws-credentials"},
    ]
    if s3.endpoint:
        out.append({"name": "LOOPML_S3_ENDPOINT_URL", "value": s3.endpoint})
    if r.values.workspaceSecrets:
        out += [{"name": "LOOPML_SECRETS_BACKEND", "value": "files"},
                {"name": "LOOPML_SECRETS_DIR", "value": WORKSPACE_SECRETS_DIR}]
    return out


def pod_spec(r: Release, service_account: str, containers: list[Obj], grace_s: int,
             extra_volumes: list[Obj] | None = None) -> Obj:
    return {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,  # loopml calls no Kubernetes API
        "securityContext": pod_security(r.values),
        "terminationGracePeriodSeconds": grace_s,
        "containers": containers,
        "volumes": volumes(r) + (extra_volumes or []),
    }


def rbac(r: Release, name: str, component: str, namespace: str,
         rules: list[Obj]) -> list[Obj]:
    """A ServiceAccount, its Role (``rules``; none by default) and the RoleBinding."""
    meta = r.meta(name, component, namespace)
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta,
         "automountServiceAccountToken": False},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
         "rules": rules},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
         "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]},
    ]


def credentials_secret(r: Release, namespace: str) -> list[Obj]:
    """The credentials Secret the chart creates when no ``existingSecret`` is named."""
    c = r.values.credentials
    if c.existingSecret:
        return []
    data = {"auth-token": c.authToken, "db-password": c.dbPassword}
    if c.awsAccessKeyId:
        data["aws-credentials"] = (f"[default]\naws_access_key_id = {c.awsAccessKeyId}\n"
                                   f"aws_secret_access_key = {c.awsSecretAccessKey}\n")
    return [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": r.meta(r.credentials_secret, "credentials", namespace),
             "stringData": data}]


def hosts(name: str, namespace: str, extra: list[str]) -> str:
    """--allowed-hosts: the Service's names in the cluster (the pod IP is allowed anyway)."""
    return ",".join([name, f"{name}.{namespace}", f"{name}.{namespace}.svc",
                     f"{name}.{namespace}.svc.cluster.local", *extra])
