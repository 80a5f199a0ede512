"""Where a proxied call may go, and the one HTTP client that takes it there.

``xProxy-Provider-BaseUri`` must be an absolute http(s) URI without userinfo whose host is a plain host name or a
canonical IP literal matching an allow-list pattern (settings, provider hosts by default). Loopback, private,
link-local and other non-public addresses are refused unless the operator allows private hosts, so the proxy
cannot become an SSRF tool:

- IP literals are checked as written, and an IPv6 address by every IPv4 address it embeds (NAT64, 6to4,
  IPv4-compatible, IPv4-mapped, SIIT, ISATAP, Teredo); other numeric spellings of an address (``2130706433``, ``0x7f000001``,
  ``0177.0.0.1``, ``127.1``), which resolvers read as IPv4, are refused outright;
- a host name is resolved before anything is reserved or sent (``HostCheck``, cached for a minute): if it does
  not resolve, or resolves to any non-public address, the call is refused with ``400 invalid_provider_host``;
- the resolver of the HTTP client checks every address again at connect time (a name re-pointed in between).

Base URLs the operator configured (``PAYI_SERVER_*_BASE_URL``) are trusted as they are. Redirects are never
followed (the route passes them to the caller).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import re
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict

from ..errors import ApiError, api_error


@dataclass(frozen=True, slots=True)
class Upstream:
    """A checked base URL: scheme://host[:port] plus a path prefix without a trailing slash."""

    origin: str
    path: str
    trusted: bool
    host: str = ""


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix (64:ff9b:1::/48 is not global)
_6TO4 = ipaddress.IPv6Network("2002::/16")  # RFC 3056: the IPv4 address in bits 16-48
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291's deprecated IPv4-compatible ::a.b.c.d
_SIIT = ipaddress.IPv6Network("::ffff:0:0:0/96")  # RFC 2765 IPv4-translated ::ffff:0:a.b.c.d


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """Every IPv4 address an IPv6 address carries, in any of the ways a network may route it there."""
    n = int(ip)
    low32 = ipaddress.IPv4Address(n & 0xFFFFFFFF)
    found = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _NAT64 or ip in _COMPATIBLE or ip in _SIIT:
        found.append(low32)
    if ip in _6TO4:
        found.append(ipaddress.IPv4Address((n >> 80) & 0xFFFFFFFF))
    if ip.teredo is not None:
        found.extend(ip.teredo)  # (server, client)
    if (n >> 32) & 0xFDFFFFFF == 0x00005EFE:  # ISATAP interface id (0000:5efe or 0200:5efe), any prefix
        found.append(low32)
    return found


def _is_public(address: str) -> bool:
    """A global unicast address, and (IPv6) every IPv4 address it embeds global too: ``64:ff9b::7f00:1``,
    ``2002:7f00:1::`` or ``::127.0.0.1`` reach loopback through NAT64, 6to4 or an old stack."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            # A translation prefix (not "global" itself) stands for its IPv4 address; Teredo and ISATAP addresses
            # must be global as well.
            translated = ip.ipv4_mapped is not None or any(ip in net for net in (_NAT64, _6TO4, _COMPATIBLE, _SIIT))
            return all(v4.is_global and not v4.is_multicast for v4 in embedded) and (translated or ip.is_global)
    return bool(ip.is_global) and not ip.is_multicast


_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*")
_NUMERIC = re.compile(r"[0-9a-fx.]+")


def _refuse_host() -> ApiError:
    return api_error("invalid_provider_host")


@functools.lru_cache(maxsize=1024)
def parse_base(value: str, *, patterns: tuple[str, ...], allow_private: bool, trusted: bool) -> Upstream:
    """A base URL checked (``trusted``: the server's own setting; otherwise a caller's header, held to
    ``patterns``). A pure function of its arguments, so remembered: every call of an application names the same
    base, and parsing it was 3% of a proxied call's time. A refusal raises, and is never remembered."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise api_error("invalid_provider_uri") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username or parts.password:
        raise api_error("invalid_provider_uri", "relative")
    if parts.query or parts.fragment:
        raise api_error("invalid_provider_uri", "query")
    host = parts.hostname.lower().rstrip(".")
    if not trusted:
        if parts.scheme != "https" and not allow_private:
            raise api_error("invalid_provider_uri", "https")
        if not any(fnmatchcase(host, pattern.lower()) for pattern in patterns):
            raise api_error("invalid_provider_host")
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is None:
            if not _HOST_NAME.fullmatch(host):
                raise api_error("invalid_provider_uri", "host")
            if _NUMERIC.fullmatch(host) and _legacy_ipv4(host):
                raise _refuse_host()  # an address in a spelling only old resolvers read
        elif not allow_private and not _is_public(str(literal)):
            raise _refuse_host()
    netloc = parts.netloc.rsplit("@", 1)[-1]
    default_port = 443 if parts.scheme == "https" else 80
    if port == default_port:
        netloc = netloc.rsplit(":", 1)[0]
    return Upstream(origin=f"{parts.scheme}://{netloc}", path=parts.path.rstrip("/"), trusted=trusted, host=host)


def _legacy_ipv4(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


class HostCheck:
    """Resolve an untrusted provider host before the call and refuse it unless it resolves, and only to public
    addresses. A host that passed is not looked up again for ``ttl`` seconds."""

    def __init__(self, ttl: float = 60.0, max_entries: int = 10_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._passed: dict[str, float] = {}

    async def check(self, host: str) -> None:
        now = time.monotonic()
        if self._passed.get(host, 0.0) > now:
            return
        try:
            ipaddress.ip_address(host.strip("[]"))
            return  # a literal: parse_base checked it
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            raise api_error("invalid_provider_host", "unresolved") from None
        if not infos or not all(_is_public(str(info[4][0])) for info in infos):
            raise _refuse_host()
        if len(self._passed) >= self.max_entries:
            self._passed.clear()
        self._passed[host] = now + self.ttl


class PublicOnlyResolver(AbstractResolver):
    """Resolve with the system resolver, then refuse hosts that resolve to non-public addresses."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = aiohttp.ThreadedResolver()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._allow_private:
            for result in results:
                if not _is_public(result["host"]):
                    raise OSError(f"provider host resolves to a non-public address: {host}")
        return results

    async def close(self) -> None:
        await self._inner.close()


_NOT_OURS = ("User-Agent", "Accept-Encoding", "Content-Type")


class _ForwardingRequest(aiohttp.ClientRequest):
    """aiohttp's request, adding none of the client's own ``User-Agent``, ``Accept-Encoding`` or ``Content-Type``
    (what the caller sent is what the provider gets; ``Accept: */*`` is added when the caller sent no ``Accept``,
    as any HTTP client does). The session's ``skip_auto_headers`` did the same, but aiohttp builds, sorts and
    merges that list again on every request: 1.5% of a proxied call. Pinned by
    ``test_the_provider_gets_the_clients_headers_and_no_client_defaults_of_ours``."""

    _NOT_OURS: CIMultiDict[None] = CIMultiDict((name, None) for name in _NOT_OURS)

    def update_auto_headers(self, skip_auto_headers: Iterable[str] | None) -> None:
        self._skip_auto_headers = self._NOT_OURS  # read (never changed) by aiohttp's body and payload headers
        headers = self.headers
        for name, value in self.DEFAULT_HEADERS.items():
            if name not in headers and name not in self._NOT_OURS:
                headers[name] = value


def make_session(
    *,
    allow_private: bool,
    connect_timeout: float,
    read_timeout: float,
    pool: int = 1000,
) -> aiohttp.ClientSession:
    """The proxy's HTTP client."""
    connector = aiohttp.TCPConnector(
        limit=pool,
        limit_per_host=0,
        ttl_dns_cache=60,
        resolver=PublicOnlyResolver(allow_private),
        enable_cleanup_closed=True,
        keepalive_timeout=30,
    )
    timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=read_timeout)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        auto_decompress=True,
        request_class=_ForwardingRequest,
        cookie_jar=aiohttp.DummyCookieJar(),
        trust_env=False,
    )
