"""Which registries an image may come from: never one on the node's own network unless staff allow it.

An image reference names the host the node's engine connects to on a pull (`127.0.0.1:2201/probe`
makes it talk to the node's own sshd and show its banner in the console). The host is the first
component of the reference as the distribution grammar reads it (docker-image-py: a first component
with '.' or ':', `localhost`, or capitals), Docker Hub otherwise. A registry whose address, literal
or as the panel's resolver answers, is loopback, private, link-local (cloud metadata), CGNAT,
multicast or otherwise not global is refused, unless HEARTH_IMAGE_REGISTRY_ALLOW lists it (a host,
`host:port`, or a CIDR). Names the panel cannot resolve pass: the node resolves on its own, and a
resolver that answers the node differently (split horizon, rebinding) is for the node's firewall.
"""

import ipaddress
import socket
import time

from django.conf import settings
from docker_image.reference import InvalidReference, Reference

DOCKER_HUB = "docker.io"
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_NOT_GLOBAL = {
    "is_loopback": "a loopback address",
    "is_link_local": "a link-local address (cloud metadata lives there)",
    "is_private": "a private address",
    "is_multicast": "a multicast address",
    "is_unspecified": "an unspecified address",
    "is_reserved": "a reserved address",
}
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# Answers kept a few minutes: every save of a template checks each of its images, and a resolver that
# does not answer costs seconds a lookup (the node resolves on its own at pull time in any case).
RESOLVED_SECONDS = 300
_resolved: dict[str, tuple[float, list]] = {}


class BadReference(ValueError):
    """Not an image reference the engine would accept."""


def registry_of(image: str) -> str:
    """The registry host (with its port) the engine pulls `image` from; "docker.io" for Docker Hub."""
    try:
        named = Reference.parse_normalized_named(image)
    except (InvalidReference, TypeError) as exc:
        raise BadReference(str(exc) or "invalid reference format") from exc
    return named.domain()


def _host(domain: str) -> str:
    if domain.startswith("["):  # [::1]:5000
        return domain[1 : domain.index("]")]
    return domain.rsplit(":", 1)[0] if ":" in domain else domain


def _kind(address: Address) -> str | None:
    """Why `address` is not a registry on the internet, or None when it is one."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.version == 4 and address in _CGNAT:
        return "a carrier-grade NAT address"
    for attribute, kind in _NOT_GLOBAL.items():
        if getattr(address, attribute):
            return kind
    return None if address.is_global else "not a public address"


def _addresses(host: str) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    if host.lower().rstrip(".") == "localhost" or host.lower().rstrip(".").endswith(".localhost"):
        return [ipaddress.ip_address("127.0.0.1")]  # RFC 6761: whatever the resolver says
    now = time.monotonic()
    kept = _resolved.get(host)
    if kept is None or now - kept[0] > RESOLVED_SECONDS:
        if len(_resolved) > 1000:
            _resolved.clear()
        kept = _resolved[host] = (now, _resolve(host))
    return kept[1]


def _resolve(host: str) -> list[Address]:
    try:
        answers = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []  # the panel cannot tell; the node's resolver decides (see the module's docstring)
    return [ipaddress.ip_address(answer[4][0].split("%", 1)[0]) for answer in answers]


def _allowed(domain: str, addresses: list[Address]) -> bool:
    host = _host(domain).lower()
    for entry in (item.strip() for item in settings.IMAGE_REGISTRY_ALLOW):
        if not entry:
            continue
        if entry.lower() in (domain.lower(), host):
            return True
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            continue
        if addresses and all(address in network for address in addresses):
            return True
    return False


def registry_problem(image: str) -> str | None:
    """Why the engine must not pull `image` (its registry is on a local network), or None."""
    try:
        domain = registry_of(image)
    except BadReference as exc:
        return f"'{image}' is not a valid image reference ({exc})."
    if domain == DOCKER_HUB:
        return None
    addresses = _addresses(_host(domain))
    if _allowed(domain, addresses):
        return None
    if not addresses and "." not in _host(domain):  # `registry:5000`: only the node's own network has it
        return (
            f"The image's registry {domain} is a single-label name, which only the node's own network "
            "(its search domains, /etc/hosts) resolves. Staff can allow it with HEARTH_IMAGE_REGISTRY_ALLOW."
        )
    for address in addresses:
        if kind := _kind(address):
            shown = domain if str(address) == _host(domain) else f"{domain} ({address})"
            return (
                f"The image's registry {shown} is {kind}: the node would connect there. "
                "Staff can allow it with HEARTH_IMAGE_REGISTRY_ALLOW."
            )
    return None
