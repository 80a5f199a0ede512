"""SSRF through IPv6 spellings that embed an IPv4 address: NAT64 (64:ff9b::/96), 6to4 (2002::/16),
IPv4-compatible (::a.b.c.d), IPv4-mapped (::ffff:a.b.c.d), SIIT (::ffff:0:a.b.c.d), ISATAP (..:5efe:a.b.c.d) and
Teredo (2001::/32). ``[64:ff9b::7f00:1]``, ``[2002:7f00:1::]`` and ``[::127.0.0.1]`` passed the literal address
check when the allow-list permitted the host. Every embedding of a loopback, private, link-local or metadata
address is refused, as a literal and as what a name resolves to."""

from __future__ import annotations

import ipaddress
import json

import pytest

from payi_server.proxy.upstream import _is_public

from .conftest import row_counts
from .test_hostile_input import _JSON, Hostile, hostile, refused  # noqa: F401 - the fixture

_INNER = ["127.0.0.1", "10.0.0.1", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"]


def _embeddings(v4: str) -> list[str]:
    n = int(ipaddress.IPv4Address(v4))
    hi, lo = n >> 16, n & 0xFFFF
    return [
        f"64:ff9b::{hi:x}:{lo:x}",  # NAT64 well-known prefix
        f"64:ff9b::{v4}",
        f"2002:{hi:x}:{lo:x}::",  # 6to4
        f"2002:{hi:x}:{lo:x}:1::1",
        f"::{v4}",  # IPv4-compatible (deprecated)
        f"::{hi:x}:{lo:x}",
        f"::ffff:{v4}",  # IPv4-mapped
        f"::ffff:0:{v4}",  # SIIT IPv4-translated
        f"2001:db9::5efe:{v4}",  # ISATAP interface id
        f"2a00:1450::200:5efe:{v4}",
        f"2001:0:4136:e378:8000:63bf:{(~hi) & 0xFFFF:x}:{(~lo) & 0xFFFF:x}",  # Teredo: client address, obfuscated
    ]


_PUBLIC_V4 = "8.8.8.8"


@pytest.mark.parametrize("inner", _INNER)
def test_every_embedding_of_a_non_public_ipv4_is_not_public(inner: str) -> None:
    for address in _embeddings(inner):
        assert not _is_public(address), address


def test_embeddings_of_public_addresses_stay_public() -> None:
    """NAT64 and 6to4 of a public address are how IPv6-only networks reach it: not refused."""
    for address in (f"64:ff9b::{_PUBLIC_V4}", "2002:808:808::1", f"::ffff:{_PUBLIC_V4}", "2a00:1450:4001:80b::200e",
                    "2606:4700::6810:84e5"):
        assert _is_public(address), address


async def test_ipv6_literals_embedding_private_addresses_are_refused(hostile: Hostile) -> None:
    before = await row_counts(hostile.state.db)
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}).encode()
    port = hostile.canary_url.rsplit(":", 1)[1]
    for inner in ("127.0.0.1", "10.0.0.1", "169.254.169.254"):
        for address in _embeddings(inner):
            target = f"https://[{address}]:{port}".encode()
            answer = await hostile.call("POST", "/api/v1/proxy/azure.openai/openai/deployments/d/chat/completions",
                                        [*_JSON, (b"xproxy-provider-baseuri", target)], body)
            await refused(hostile, answer, "invalid_provider_host", "invalid_provider_uri")
    assert hostile.canary.hits == []
    assert await row_counts(hostile.state.db) == before
