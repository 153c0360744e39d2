"""The SSRF guard: webhooks go to public internet addresses only.

A subscription URL whose host resolves to a private, loopback, link-local, reserved,
multicast or otherwise non-global address is refused, at creation and again at every
delivery (the resolver below checks the addresses each connection actually uses, so a
name that is re-pointed after creation — DNS rebinding — is caught too). Settings'
`webhook_allow_private` lifts the guard for tests and the local demo.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver


class ForbiddenTarget(OSError):
    """The webhook URL points at an address Signpost must not call."""


def is_forbidden_address(address: str) -> bool:
    """Whether an IP address is anything but a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    # `is_global` is False for private, loopback, link-local, reserved, unspecified,
    # shared (100.64/10) and documentation ranges; multicast can be global, so ask too.
    return not ip.is_global or ip.is_multicast


def literal_host(url: str) -> str | None:
    """The URL's host when it is an IP literal, else None."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return host


async def check_target(url: str, *, allow_private: bool) -> None:
    """Raise `ForbiddenTarget` unless every address the URL's host resolves to is public."""
    if allow_private:
        return
    host = urlsplit(url).hostname
    if not host:
        raise ForbiddenTarget("the URL has no host")
    if literal_host(url) is not None:
        addresses = [host]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise ForbiddenTarget(f"the host {host!r} does not resolve") from exc
        addresses = [str(info[4][0]) for info in infos]
    if not addresses or any(is_forbidden_address(a) for a in addresses):
        raise ForbiddenTarget(
            f"the host {host!r} resolves to a private, loopback, link-local or reserved address"
        )


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that resolve to a forbidden address."""

    def __init__(self, allow_private: Callable[[], bool]) -> None:
        self.inner = ThreadedResolver()
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
