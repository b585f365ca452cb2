"""Where a request comes from, as the abuse limits see it: a keyed hash, never an address.

The address is the TCP peer's, as uvicorn reports it. When that peer is a reverse proxy
the operator named (setting ``trusted_proxy``, ``--trusted-proxy``), the client is the
last address in its ``X-Forwarded-For`` (the one that proxy added); from any other peer
the header is ignored, so a client cannot choose its own source. The result is hashed
at once under the process's key (:class:`server.limits.KeyedHasher`): the address is
never stored, logged or put in an error, and the hash means nothing after a restart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import Any

from server.limits import KeyedHasher

UNKNOWN = b"\x00" * 16
"""The source of a request with no peer address (a test client, a Unix socket)."""


def _forwarded_for(scope: Any) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == b"x-forwarded-for":
            last = value.decode("latin-1").rsplit(",", 1)[-1].strip()
            try:
                return str(ipaddress.ip_address(last))
            except ValueError:
                return None
    return None


def client_address(scope: Any, trusted: Collection[str]) -> str | None:
    client = scope.get("client")
    if not client:
        return None
    host = str(client[0])
    if host in trusted:
        return _forwarded_for(scope) or host
    return host


def source_key(scope: Any, trusted: Collection[str], hasher: KeyedHasher) -> bytes:
    """The keyed hash of the request's source (16 bytes)."""
    address = client_address(scope, trusted)
    if address is None:
        return UNKNOWN
    return hasher("source", address.encode())
