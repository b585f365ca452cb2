"""The console's pages: the shift screen and a health check. Thin: authorize, render."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from console.web.state import SESSION_COOKIE, web_state

__all__ = ["favicon", "healthz", "shift_screen"]

ROLE_WORDS = {"worker": "Support worker", "supervisor": "Supervisor", "admin": "Admin"}


async def shift_screen(request: Request) -> Response:
    """The one screen of a shift. Its live parts come over ``/ws``; the page itself holds
    no conversation content, so nothing readable is in it for the cache to keep."""
    web = web_state(request)
    session = web.session_of(request)
    if session is None:
        reason = web.sessions.ended_reason(request.cookies.get(SESSION_COOKIE))
        return RedirectResponse("/signin" + (f"?reason={reason}" if reason else ""), 303)
    account = web.account_of(session)
    if account is None:
        return RedirectResponse("/signin?reason=disabled", status_code=303)
    web.sessions.touch(session)
    role = str(getattr(account.role, "value", account.role))
    context = {
        "program_name": web.program_name,
        "timezone": web.timezone,
        "title": "Shift",
        "csrf": session.csrf,
        "name": account.name,
        "role": role,
        "role_words": ROLE_WORDS.get(role, role),
        "supervisor": role in {"supervisor", "admin"},
        "idle_minutes": int(web.sessions.idle.total_seconds() // 60),
        "sound": session.sound,
    }
    return web.templates.TemplateResponse(request, "shift.html", context)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def favicon(request: Request) -> Response:
    """No icon: answered so the browser does not log a missing file on every page."""
    return Response(status_code=204)
