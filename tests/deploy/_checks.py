"""Per-object checks of a rendered release: security properties of every pod, and that
everything a pod or another object refers to is in the render. Each returns a list of
problems (empty: fine), so a test can also show that a bad object is caught."""

from __future__ import annotations

import copy
import re
from typing import Any

from tests.deploy._chart import Obj, pods


def _ns(o: Obj) -> str:
    return o["metadata"].get("namespace", "")


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        has, val = e["key"] in labels, labels.get(e["key"])
        op = e["operator"]
        if (op == "In" and val not in e["values"]) or (op == "NotIn" and val in e["values"]) \
                or (op == "Exists" and not has) or (op == "DoesNotExist" and has):
            return False
    return True


def security_problems(objs: list[Obj], network_policies: bool = True) -> list[str]:
    """Every pod: its own ServiceAccount (bound to a Role), no token automount, non-root,
    read-only root filesystem, no privilege escalation, ALL capabilities dropped, cpu and
    memory requests and limits, no host namespaces or hostPath, and (``network_policies``)
    a default-deny policy plus an allow policy selecting it."""
    out: list[str] = []
    names = {(o["kind"], _ns(o), o["metadata"]["name"]) for o in objs}
    bound = {(_ns(o), s["name"]) for o in objs if o["kind"] == "RoleBinding"
             for s in o.get("subjects", []) if s["kind"] == "ServiceAccount"}
    accounts: dict[str, str] = {}
    for owner, tpl in pods(objs):
        where = f"{owner['kind']} {_ns(owner)}/{owner['metadata']['name']}"
        spec, ns = tpl["spec"], _ns(owner)
        sa = spec.get("serviceAccountName")
        if not sa or sa == "default" or ("ServiceAccount", ns, sa) not in names:
            out.append(f"{where}: no ServiceAccount of its own in the render")
        elif (ns, sa) not in bound:
            out.append(f"{where}: ServiceAccount {sa} has no RoleBinding")
        elif accounts.setdefault(f"{ns}/{sa}", owner["metadata"]["name"]) != \
                owner["metadata"]["name"]:
            out.append(f"{where}: shares ServiceAccount {sa} with another workload")
        if spec.get("automountServiceAccountToken") is not False:
            out.append(f"{where}: mounts a ServiceAccount token")
        psc = spec.get("securityContext") or {}
        if psc.get("runAsNonRoot") is not True or not psc.get("runAsUser"):
            out.append(f"{where}: pod may run as root")
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(flag):
                out.append(f"{where}: {flag}")
        if any("hostPath" in v for v in spec.get("volumes", [])):
            out.append(f"{where}: hostPath volume")
        for c in spec.get("initContainers", []) + spec["containers"]:
            cw = f"{where} container {c['name']}"
            sc = c.get("securityContext") or {}
            if sc.get("readOnlyRootFilesystem") is not True:
                out.append(f"{cw}: writable root filesystem")
            if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged"):
                out.append(f"{cw}: may escalate privileges")
            if sc.get("runAsNonRoot") is False or sc.get("runAsUser") == 0:
                out.append(f"{cw}: runs as root")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
                out.append(f"{cw}: capabilities not all dropped")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                missing = {"cpu", "memory"} - set(res.get(part) or {})
                if missing:
                    out.append(f"{cw}: no {part} for {', '.join(sorted(missing))}")
        if network_policies:
            labels = tpl["metadata"].get("labels") or {}
            sel = [p for p in objs if p["kind"] == "NetworkPolicy" and _ns(p) == ns
                   and _matches(p["spec"]["podSelector"], labels)]
            if not any(set(p["spec"].get("policyTypes", [])) >= {"Ingress", "Egress"}
                       and not p["spec"].get("ingress") and not p["spec"].get("egress")
                       for p in sel):
                out.append(f"{where}: no default-deny NetworkPolicy selects it")
            if not any(p["spec"].get("ingress") or p["spec"].get("egress") for p in sel):
                out.append(f"{where}: no NetworkPolicy allows its flows")
    return out


def reference_problems(objs: list[Obj], existing_secrets: set[str]) -> list[str]:
    """Every ConfigMap, Secret, Service and ServiceAccount a pod names, every Role a
    RoleBinding names, every HPA target, and every selector of a Service or
    PodDisruptionBudget is in the render (``existing_secrets``: Secrets the values declare
    as created beforehand)."""
    out: list[str] = []
    names = {(o["kind"], _ns(o), o["metadata"]["name"]) for o in objs}
    templates = [(_ns(o), t) for o, t in pods(objs)]

    def need(kind: str, ns: str, name: str, where: str) -> None:
        if kind == "Secret" and name in existing_secrets:
            return
        if (kind, ns, name) not in names:
            out.append(f"{where}: {kind} {ns}/{name} is not in the render")

    for owner, tpl in pods(objs):
        ns, spec = _ns(owner), tpl["spec"]
        where = f"{owner['kind']} {ns}/{owner['metadata']['name']}"
        need("ServiceAccount", ns, spec.get("serviceAccountName", "default"), where)
        for v in spec.get("volumes", []):
            if "secret" in v:
                need("Secret", ns, v["secret"]["secretName"], where)
            if "configMap" in v:
                need("ConfigMap", ns, v["configMap"]["name"], where)
        for c in spec.get("initContainers", []) + spec["containers"]:
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    need("Secret", ns, ref["secretKeyRef"]["name"], where)
                if "configMapKeyRef" in ref:
                    need("ConfigMap", ns, ref["configMapKeyRef"]["name"], where)
            for e in c.get("envFrom", []):
                if "secretRef" in e:
                    need("Secret", ns, e["secretRef"]["name"], where)
                if "configMapRef" in e:
                    need("ConfigMap", ns, e["configMapRef"]["name"], where)
            # Services named in arguments (http://NAME.NAMESPACE.svc:PORT)
            for a in c.get("args", []):
                for name, sns in re.findall(r"https?://([a-z0-9-]+)\.([a-z0-9-]+)\.svc", a):
                    need("Service", sns, name, where)
    for o in objs:
        ns, where = _ns(o), f"{o['kind']} {_ns(o)}/{o['metadata']['name']}"
        if o["kind"] == "RoleBinding":
            need(o["roleRef"]["kind"], ns, o["roleRef"]["name"], where)
            for s in o["subjects"]:
                need("ServiceAccount", s.get("namespace", ns), s["name"], where)
        elif o["kind"] == "HorizontalPodAutoscaler":
            t = o["spec"]["scaleTargetRef"]
            need(t["kind"], ns, t["name"], where)
        elif o["kind"] in ("Service", "PodDisruptionBudget"):
            sel = o["spec"]["selector"]
            sel = sel if o["kind"] == "PodDisruptionBudget" else {"matchLabels": sel}
            if not any(tns == ns and _matches(sel, t["metadata"]["labels"])
                       for tns, t in templates):
                out.append(f"{where}: its selector matches no pod in the render")
    return out


def with_bare_workload(objs: list[Obj], namespace: str) -> list[Obj]:
    """The render plus a Deployment as someone might add it: default account, no limits,
    no security context, labelled outside the release."""
    bad = copy.deepcopy(objs)
    bad.append({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "sidecar", "namespace": namespace}, "spec": {
                    "selector": {"matchLabels": {"app": "sidecar"}},
                    "template": {"metadata": {"labels": {"app": "sidecar"}}, "spec": {
                        "containers": [{"name": "c", "image": "busybox:1.36",
                                        "envFrom": [{"configMapRef": {"name": "nope"}}]}]}}}})
    return bad
