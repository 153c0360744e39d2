"""The SSRF guard: webhooks go to public internet addresses only, over https.

A subscription URL whose host resolves to a private, loopback, link-local, reserved,
multicast or otherwise non-global address is refused, at creation and again at every
delivery (the resolver below checks the addresses each connection actually uses, so a
name that is re-pointed after creation — DNS rebinding — is caught too). An IPv6
address that carries an IPv4 one (IPv4-mapped and -translated, NAT64 `64:ff9b::/96`,
6to4 `2002::/16`, Teredo `2001::/32`) is judged by every address it carries as well.
Settings' `webhook_allow_private` lifts the guard for every subscription (tests, a
local stack); a subscription made by the embedded demo for its own sink (`local_target`)
is the one exception without it.

The URL itself must be https (plain http only where `webhook_allow_http` allows it: a
development setting, on by default in embedded mode) and carries no user-info:
credentials go in the subscription's own headers.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class ForbiddenTarget(OSError):
    """The webhook URL points at an address Signpost must not call."""


# IPv6 ranges refused whatever they carry: IPv4-compatible addresses (deprecated, RFC
# 4291), the local-use NAT64 prefix (RFC 8215), which translates into a local network,
# and site-local addresses (deprecated by RFC 3879, still routed inside some networks,
# and not "private" to Python's ipaddress).
_NEVER = (
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("fec0::/10"),
)
# Prefixes whose last 32 bits are an IPv4 address: NAT64's well-known prefix (RFC 6052)
# and IPv4-translated addresses (SIIT, RFC 2765).
_LAST_32_BITS = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`),
    IPv4-translated and NAT64 (the last 32 bits), 6to4 (bits 16 to 48) and Teredo (the
    server in bits 32 to 64, the client in the last 32 bits inverted)."""
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if any(ip in net for net in _LAST_32_BITS):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # `is_global` is False for private, loopback, link-local, reserved, unspecified,
    # shared (100.64/10) and documentation ranges; multicast can be global, so ask too.
    return ip.is_global and not ip.is_multicast


def is_forbidden_address(address: str) -> bool:
    """Whether an IP address is anything but a public unicast address: an IPv6 address
    must be public itself and so must every IPv4 address it carries."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            # The mapped address is the one connected to: it alone decides.
            return not _public(ip.ipv4_mapped)
        if any(ip in net for net in _NEVER):
            return True
        return not _public(ip) or not all(_public(v4) for v4 in embedded_ipv4(ip))
    return not _public(ip)


def is_plain_http(url: str) -> bool:
    """Whether the URL is plain http (not https)."""
    return urlsplit(url).scheme != "https"


def url_problem(url: str, *, allow_http: bool) -> str | None:
    """Why a webhook URL may not be used whatever it resolves to (its scheme, user-info),
    or None."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_http):
        return "the URL must use https (plain http is for development only)"
    if "@" in parts.netloc:
        return (
            "a URL must not carry a user name or password: give credentials in the "
            "subscription's headers"
        )
    return None


def literal_host(url: str) -> str | None:
    """The URL's host when it is an IP literal, else None."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


def without_user_info(url: str) -> str:
    """The URL without any user name or password (to show a subscription made before
    they were refused)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


async def check_target(
    url: str, *, allow_private: bool, resolver: AbstractResolver | None = None
) -> None:
    """Raise `ForbiddenTarget` unless every address the URL's host resolves to (through
    `resolver`, the system's by default) is public."""
    if allow_private:
        return
    host = urlsplit(url).hostname
    if not host:
        raise ForbiddenTarget("the URL has no host")
    if literal_host(url) is not None:
        addresses = [host]
    else:
        try:
            found = await (resolver or ThreadedResolver()).resolve(host, 0, socket.AF_UNSPEC)
        except OSError as exc:
            raise ForbiddenTarget(f"the host {host!r} does not resolve") from exc
        addresses = [str(result["host"]) for result in found]
    if not addresses or any(is_forbidden_address(a) for a in addresses):
        raise ForbiddenTarget(
            f"the host {host!r} resolves to a private, loopback, link-local or reserved address"
        )


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to a forbidden address."""

    def __init__(
        self, allow_private: Callable[[], bool], inner: AbstractResolver | None = None
    ) -> None:
        self.inner = inner or ThreadedResolver()
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        if not self.allow_private() and any(is_forbidden_address(r["host"]) for r in results):
            raise ForbiddenTarget(f"{host} resolves to a forbidden address")
        return results

    async def close(self) -> None:
        await self.inner.close()
