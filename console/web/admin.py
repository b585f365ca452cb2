"""The console's admin pages and their one API: every admin operation, by name.

- ``GET /admin``: the sections this account may open.
- ``GET /admin/{section}``: a section's page (``templates/admin/{section}.html``,
  extending ``admin/base.html``). A section is listed in :data:`SECTIONS` with the least
  role that may open it; a section whose template is not installed is not offered.
- ``POST /admin/api/{op}``: runs admin operation ``op`` (:mod:`console.admin`) as the
  signed-in account, with a JSON object body, and answers ``{"ok": true, "result": ...}``
  or ``{"ok": false, "kind": ..., "error": "plain words"}`` (400 refused, 403 role,
  404 not found, 409 conflict, 503 busy: too many password hashes at once). The
  operation checks the role itself (the CLI and the console share the check). Requests
  need the session's CSRF token in ``X-CSRF-Token`` and ``Content-Type:
  application/json``; bodies are at most :data:`MAX_JSON_BYTES`.

Pages hold no conversation content; like every console answer they are ``no-store``
under the strict CSP of :mod:`console.web.headers`. The page scripts are ES modules in
``static/admin/`` (``static/admin.js`` has the shared ``api()`` and ``announce()``).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from console.accounts import Role
from console.admin import AdminContext, call, load_operations
from console.errors import ConsoleError, Forbidden, NotFound
from console.web.routes import ROLE_WORDS
from console.web.state import HERE, SESSION_COOKIE, web_state

__all__ = ["MAX_JSON_BYTES", "SECTIONS", "Section", "admin_routes", "sections_for"]

log = logging.getLogger("console.web.admin")

MAX_JSON_BYTES = 256 * 1024


@dataclass(frozen=True)
class Section:
    slug: str
    title: str
    role: Role  # the least role that may open it
    summary: str


SECTIONS: tuple[Section, ...] = (
    Section("profile", "Profile and hours", Role.ADMIN,
            "What participants see before a chat: name, rights notice, questions, hours."),
    Section("website", "Website and widget", Role.ADMIN,
            "The websites allowed to show the chat, and a check of a page."),
    Section("status", "Status", Role.ADMIN, "Close the line or announce an outage, and clear it."),
    Section("staff", "Staff", Role.ADMIN, "Accounts: add, change role, reset password, disable."),
    Section("rota", "Rota and shift rules", Role.ADMIN,
            "Who works when, and the rules at the end of a shift."),
    Section("replies", "Saved replies", Role.ADMIN, "The program's own library of replies."),
    Section("codewords", "Code words", Role.ADMIN, "Add, rotate and remove code words."),
    Section("statistics", "Statistics", Role.SUPERVISOR,
            "How the line is used, with nothing that identifies anyone."),
)  # fmt: skip

_STATUS = {"NotFound": 404, "Forbidden": 403, "Conflict": 409, "Busy": 503}


def _allowed(role: Role, least: Role) -> bool:
    if least is Role.ADMIN:
        return role is Role.ADMIN
    if least is Role.SUPERVISOR:
        return role.supervises
    return True


def _installed(section: Section) -> bool:
    return (HERE / "templates" / "admin" / f"{section.slug}.html").is_file()


def sections_for(role: Role) -> list[Section]:
    """The installed sections ``role`` may open, in order."""
    return [s for s in SECTIONS if _installed(s) and _allowed(role, s.role)]


def _signed_in(request: Request) -> tuple[Any, Any] | Response:
    web = web_state(request)
    session = web.session_of(request)
    if session is None:
        reason = web.sessions.ended_reason(request.cookies.get(SESSION_COOKIE))
        return RedirectResponse("/signin" + (f"?reason={reason}" if reason else ""), 303)
    account = web.account_of(session)
    if account is None:
        return RedirectResponse("/signin?reason=disabled", status_code=303)
    web.sessions.touch(session)
    return session, account


def _page(request: Request, template: str, account: Any, csrf: str, **extra: Any) -> Response:
    web = web_state(request)
    role = Role(account.role)
    context = {
        "program_name": web.program_name,
        "timezone": web.timezone,
        "csrf": csrf,
        "name": account.name,
        "role": role.value,
        "role_words": ROLE_WORDS.get(role.value, role.value),
        "sections": sections_for(role),
        **extra,
    }
    return web.templates.TemplateResponse(request, template, context)


async def admin_index(request: Request) -> Response:
    found = _signed_in(request)
    if isinstance(found, Response):
        return found
    session, account = found
    if not Role(account.role).supervises:
        return Response("Only a supervisor or an admin can open this.", status_code=403)
    return _page(request, "admin/index.html", account, session.csrf, title="Admin", current=None)


async def admin_section(request: Request) -> Response:
    found = _signed_in(request)
    if isinstance(found, Response):
        return found
    session, account = found
    slug = request.path_params["section"]
    section = next((s for s in sections_for(Role(account.role)) if s.slug == slug), None)
    if section is None:  # unknown and forbidden look alike
        return Response("There is no such page.", status_code=404)
    return _page(
        request,
        f"admin/{section.slug}.html",
        account,
        session.csrf,
        title=section.title,
        current=section,
    )


def _refusal(kind: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"ok": False, "kind": kind, "error": message}, status_code=status)


async def _json_body(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise ValueError("not json")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise OverflowError
    return json.loads(body or b"{}")


async def admin_api(request: Request) -> Response:
    web = web_state(request)
    session = web.session_of(request)
    if session is None:
        return _refusal("SignedOut", "You are signed out. Sign in again.", 401)
    if not session.csrf_ok(request.headers.get("x-csrf-token", "")):
        return _refusal("Expired", "This page has expired. Reload it and try again.", 403)
    account = web.account_of(session)
    if account is None:
        return _refusal("SignedOut", "This account can no longer sign in.", 401)
    web.sessions.touch(session)
    try:
        args = await _json_body(request)
    except OverflowError:
        return _refusal("TooLarge", "That is more than the console accepts at once.", 413)
    except ValueError:
        return _refusal("BadRequest", "The request was not understood.", 400)
    if not isinstance(args, dict):
        return _refusal("BadRequest", "The request was not understood.", 400)
    ctx = AdminContext.for_node(web.node, account)
    try:
        result = await call(ctx, request.path_params["op"], args)
    except (Forbidden, NotFound) as exc:
        return _refusal(type(exc).__name__, exc.message, _STATUS[type(exc).__name__])
    except ConsoleError as exc:
        kind = type(exc).__name__
        return _refusal(kind, exc.message, _STATUS.get(kind, 400))
    except Exception as exc:  # never a traceback, an argument or content in the answer
        log.warning("admin operation failed: %s", type(exc).__name__)
        return _refusal("Failed", "The node could not do this. Nothing was changed.", 500)
    return JSONResponse({"ok": True, "result": result})


def admin_routes() -> list[Route]:
    """The admin pages and API (the operations are loaded here)."""
    load_operations()
    return [
        Route("/admin", admin_index, methods=["GET"]),
        Route("/admin/api/{op:str}", admin_api, methods=["POST"]),
        Route("/admin/{section:str}", admin_section, methods=["GET"]),
    ]
