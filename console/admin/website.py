"""The websites allowed to show the chat, and a check of one page.

- ``origins.list``: the web origins the relay admits for this program (its CORS
  allow-list), as this node last registered them.
- ``origins.add {origin}`` / ``origins.remove {origin}``: change the list and register
  it with the relay (the relay replaces the whole list: ``PUT /v1/programs/{id}/origins``
  with a session of this program), through the running node or, when it is stopped,
  one authenticated relay connection. Kept in the keystore only once the relay
  accepted it.
- ``widget.check {url}``: can that page reach the relay, and if not, why
  (:mod:`console.widget_check`).

An origin is ``scheme://host[:port]`` exactly as a browser sends it: lower-case, no
path, no user name; ``https`` unless the host is this machine (``localhost``,
``127.0.0.1``), where a test page may use ``http``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from client_sdk import publishing, store
from client_sdk.transport import RelayHTTP
from console.accounts import Role
from console.admin._relay import via_node, with_relay
from console.admin.context import AdminContext
from console.admin.registry import operation
from console.errors import NotAllowed
from console.widget_check import Expected, check_page
from e2ee.encoding import b64u_encode

__all__ = ["KEY", "MAX_ORIGINS", "check_origin"]

KEY = store.PUBLISHED_ORIGINS
MAX_ORIGINS = 8  # the relay's default limit
LOOPBACK = ("localhost", "127.0.0.1")


def check_origin(value: object) -> str:
    """``value`` as an origin, or :class:`NotAllowed` saying what is wrong with it."""
    if not isinstance(value, str) or not value.strip():
        raise NotAllowed("Give the website's origin, e.g. https://www.example.org.")
    text = value.strip()
    if not text.isascii():
        raise NotAllowed(f"{text!r}: write the host in its ASCII (punycode) form.")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise NotAllowed(
            f"{text!r} is not an origin: write scheme and host, e.g. https://www.example.org."
        )
    if parts.username or parts.password or "@" in parts.netloc:
        raise NotAllowed(f"{text!r}: an origin has no user name or password.")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise NotAllowed(
            f"{text!r}: an origin has no path, query or fragment; "
            f"use {parts.scheme}://{parts.netloc}."
        )
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        raise NotAllowed(f"{text!r}: the port must be a number from 1 to 65535.") from None
    if not host or any(c in host for c in " \\[]"):
        raise NotAllowed(f"{text!r}: the host is not valid.")
    if parts.scheme == "http" and host not in LOOPBACK:
        raise NotAllowed(f"{text!r}: a website must use https (http only on this machine).")
    if port == 0:
        raise NotAllowed(f"{text!r}: the port must be a number from 1 to 65535.")
    default = {"http": 80, "https": 443}[parts.scheme]
    return f"{parts.scheme}://{host}" + ("" if port in (None, default) else f":{port}")


def _origins(ctx: AdminContext) -> list[str]:
    kept = store.get_json(ctx.keystore, KEY)
    return sorted(str(o) for o in kept) if isinstance(kept, list) else []


async def _register(ctx: AdminContext, origins: list[str]) -> list[str]:
    origins = sorted(set(origins))
    if ctx.node is not None:
        await via_node(ctx.node.program.set_origins(origins))
    else:

        async def put(http: RelayHTTP, program_id: str, token: str) -> None:
            await http.put_origins(program_id, token, origins)

        await with_relay(ctx, put)
    store.put_json(ctx.keystore, KEY, origins)
    await ctx.save()
    return origins


@operation("origins.list")
async def origins_list(ctx: AdminContext, args: dict[str, Any]) -> list[str]:
    """The websites (origins) allowed to show the chat."""
    ctx.require(Role.ADMIN)
    return _origins(ctx)


@operation("origins.add", needs_relay=True)
async def origins_add(ctx: AdminContext, args: dict[str, Any]) -> list[str]:
    """Allow one more website (origin) to show the chat."""
    ctx.require(Role.ADMIN)
    origin = check_origin(args.get("origin"))
    current = _origins(ctx)
    if origin in current:
        raise NotAllowed(f"{origin} is already allowed.")
    if len(current) >= MAX_ORIGINS:
        raise NotAllowed(f"At most {MAX_ORIGINS} websites can be allowed; remove one first.")
    return await _register(ctx, [*current, origin])


@operation("origins.remove", needs_relay=True)
async def origins_remove(ctx: AdminContext, args: dict[str, Any]) -> list[str]:
    """Stop a website (origin) from showing the chat."""
    ctx.require(Role.ADMIN)
    origin = check_origin(args.get("origin"))
    current = _origins(ctx)
    if origin not in current:
        listed = ", ".join(current) or "none"
        raise NotAllowed(f"{origin} is not in the list (allowed: {listed}).")
    return await _register(ctx, [o for o in current if o != origin])


@operation("widget.check", needs_relay=True)
async def widget_check(ctx: AdminContext, args: dict[str, Any]) -> dict[str, Any]:
    """Can this page reach the relay? If not, why."""
    ctx.require(Role.ADMIN)
    url = args.get("url")
    if not isinstance(url, str) or not url.strip():
        raise NotAllowed("Give the address of the page that shows the chat.")
    identity = publishing.load_identity(ctx.keystore)
    program = store.get_json(ctx.keystore, store.PROGRAM) or {}
    expected = Expected(
        relay=program.get("relay_url"),
        program_id=b64u_encode(identity.program_id),
        identity_key=b64u_encode(identity.public_key),
    )
    try:
        result = await check_page(url.strip(), expected)
    except ValueError as exc:
        raise NotAllowed(str(exc)) from None
    result["registered"] = _origins(ctx)
    return result
