"""SSRF guard for outgoing webhooks.

A webhook URL is checked when it is configured and again before every delivery, against the
addresses its host resolves to *now* (DNS can change between the two). Refused unless
explicitly allowed: loopback, private, link-local (which includes the 169.254.169.254 cloud
metadata address), carrier-grade NAT, multicast, reserved and unspecified addresses, in IPv4
and IPv6 (IPv4-mapped IPv6 is unwrapped first). Numeric hosts in any spelling the C resolver
accepts (``2130706433``, ``0x7f.1``, ``0177.0.0.1``) resolve to the address they mean and are
judged as that address. Redirects are never followed, so a public URL cannot bounce a
delivery to an internal one.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from loopml.errors import InvalidParameterValue

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _blocked_reason(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = (
        (ip.is_loopback, "loopback"), (ip.is_link_local, "link-local (cloud metadata)"),
        (ip.is_private, "private"), (ip.is_multicast, "multicast"),
        (ip.is_unspecified, "unspecified"), (ip.is_reserved, "reserved"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "carrier-grade NAT"),
    )
    return next((why for bad, why in checks if bad), None)


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise InvalidParameterValue(f"Cannot resolve webhook host {host!r}: {e}.") from None
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check_url(url: str, allow: Sequence[str] = ()) -> None:
    """Raise InvalidParameterValue unless ``url`` is an http(s) URL whose host resolves only
    to public addresses, or the host / one of its addresses / a network containing it is in
    ``allow`` (e.g. ``["127.0.0.1", "10.0.0.0/8", "hooks.internal"]``)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameterValue(f"Webhook URL {url!r} must be http:// or https:// with a host.")
    if parts.username or parts.password:
        raise InvalidParameterValue("Webhook URLs must not carry credentials; use the secret.")
    host = parts.hostname
    if host in allow:
        return
    nets = []
    for a in allow:
        try:
            nets.append(ipaddress.ip_network(a, strict=False))
        except ValueError:
            continue
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for ip in resolve(host, port):
        if any(ip in n for n in nets if n.version == ip.version):
            continue
        why = _blocked_reason(ip)
        if why:
            raise InvalidParameterValue(
                f"Webhook URL {url!r} resolves to {ip}, a {why} address. Webhooks may only "
                "reach public addresses; allow this host explicitly in "
                "LOOPML_WEBHOOK_ALLOW if it is meant to be internal.")


__all__ = ["check_url", "resolve"]
