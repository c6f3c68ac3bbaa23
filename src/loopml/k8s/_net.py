"""NetworkPolicies: deny everything for the release's pods, then allow the few flows loopml
needs (mirrors deploy/helm/loopml/templates/networkpolicies.yaml).

Allowed: clients (namespaces labelled ``clientNamespaceLabels``) -> control plane and model
servers; model servers and Ray pods -> control plane; Prometheus -> every /metrics port;
control plane -> PostgreSQL, S3 (and Redis when enabled); model servers and Ray -> S3; every
pod -> cluster DNS; Ray pods <-> each other; control plane -> the Ray head (client port).
"""

from __future__ import annotations

from loopml.k8s._pods import Obj, Release
from loopml.k8s._values import ModelServer

API = "networking.k8s.io/v1"


def default_deny(r: Release, namespace: str) -> Obj:
    return {"apiVersion": API, "kind": "NetworkPolicy",
            "metadata": r.meta(f"{r.name}-default-deny", "network", namespace), "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/instance": r.name}},
                "policyTypes": ["Ingress", "Egress"]}}


def _dns() -> Obj:
    return {"to": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": "kube-system"}},
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}


def _external(r: Release, port: int) -> Obj:
    return {"to": [{"ipBlock": {"cidr": r.values.networkPolicy.externalCidr}}],
            "ports": [{"port": port, "protocol": "TCP"}]}


def _namespaces(r: Release) -> Obj:
    """The release namespace and the workspaces' namespaces."""
    names = [r.namespace, *(w.namespace for w in r.values.workspaces)]
    return {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In",
                                  "values": names}]}


def _clients(r: Release) -> list[Obj]:
    n = r.values.networkPolicy
    return [{"namespaceSelector": {"matchLabels": n.clientNamespaceLabels}},
            {"namespaceSelector": {"matchLabels": n.prometheusNamespaceLabels}}]


def _to_control_plane(r: Release) -> Obj:
    return {"to": [{"namespaceSelector": {"matchLabels": {
                        "kubernetes.io/metadata.name": r.namespace}},
                    "podSelector": {"matchLabels": r.selector("control-plane")}}],
            "ports": [{"port": r.values.controlPlane.port, "protocol": "TCP"}]}


def release_policies(r: Release) -> list[Obj]:
    v = r.values
    ext = v.external
    peers = [*_clients(r),
             {"namespaceSelector": _namespaces(r), "podSelector": {"matchLabels": {
                 "app.kubernetes.io/instance": r.name}}}]
    egress = [_dns(), _external(r, ext.postgresql.port), _external(r, ext.s3.port)]
    if ext.redis.enabled:
        egress.append(_external(r, ext.redis.port))
    if v.ray.enabled:
        egress.append({"to": [{"podSelector": {"matchLabels": r.selector("ray")}}],
                       "ports": [{"port": 10001, "protocol": "TCP"},
                                 {"port": 8265, "protocol": "TCP"}]})
    cp = {"apiVersion": API, "kind": "NetworkPolicy",
          "metadata": r.meta(r.control_plane, "network"), "spec": {
              "podSelector": {"matchLabels": r.selector("control-plane")},
              "policyTypes": ["Ingress", "Egress"],
              "ingress": [{"from": peers, "ports": [
                  {"port": v.controlPlane.port, "protocol": "TCP"}]}],
              "egress": egress}}
    return [default_deny(r, r.namespace), cp]


def model_server_policy(r: Release, m: ModelServer, name: str, namespace: str,
                        selector: dict[str, str]) -> Obj:
    return {"apiVersion": API, "kind": "NetworkPolicy",
            "metadata": r.meta(name, "network", namespace), "spec": {
                "podSelector": {"matchLabels": selector},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": _clients(r), "ports": [
                    {"port": m.port, "protocol": "TCP"},
                    {"port": m.grpcPort, "protocol": "TCP"}]}],
                "egress": [_dns(), _to_control_plane(r),
                           _external(r, r.values.external.s3.port)]}}


def ray_policy(r: Release, name: str) -> Obj:
    ray = {"podSelector": {"matchLabels": r.selector("ray")}}
    return {"apiVersion": API, "kind": "NetworkPolicy",
            "metadata": r.meta(name, "network"), "spec": {
                "podSelector": {"matchLabels": r.selector("ray")},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [ray]},
                            {"from": [{"podSelector": {"matchLabels":
                                                       r.selector("control-plane")}},
                                      *_clients(r)[1:]],
                             "ports": [{"port": 10001, "protocol": "TCP"},
                                       {"port": 8265, "protocol": "TCP"}]}],
                "egress": [{"to": [ray]}, _dns(), _to_control_plane(r),
                           _external(r, r.values.external.s3.port)]}}
