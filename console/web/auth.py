"""Signing in and out of the console.

- The sign-in form carries its own CSRF token (a random value in an ``HttpOnly``,
  ``SameSite=Strict`` cookie and in a hidden field; both must match), so no other site
  can sign a browser in to an account of its choosing.
- Attempts are throttled per account name and per client (:mod:`console.web.throttle`)
  before the password is checked; the password check (``ConsoleNode.sign_in``: Argon2id)
  runs off the event loop in the node's bounded password pool, and a full pool answers
  503 at once (:mod:`console.passwords`). Every refusal says the same for an unknown
  name, a wrong password and a disabled account.
- A successful sign-in always starts a new session (a fresh 256-bit id), ending any the
  browser had.
- Sign-out needs the session's CSRF token; it ends the session, expires the cookie and
  answers ``Clear-Site-Data`` so the browser drops its cache and storage for the console.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from console.passwords import Busy
from console.web.forms import FormTooLarge, read_form
from console.web.state import SESSION_COOKIE, SIGNIN_COOKIE, WebState, web_state

__all__ = ["signin_form", "signin_submit", "signout"]

MAX_NAME = 200
MAX_PASSWORD = 1024

REASONS = {
    "idle": "You were signed out because the console was not used for {minutes} minutes.",
    "signed_out": "You have signed out.",
    "disabled": "Your session has ended. Ask an admin if you cannot sign in.",
    "expired": "Your session has ended. Sign in again.",
}


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookie(response: Response, request: Request, name: str, value: str) -> None:
    response.set_cookie(
        name, value, httponly=True, samesite="strict", secure=_secure(request), path="/"
    )


def _expire_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_secure(request)
    )


def _render_signin(
    request: Request,
    web: WebState,
    *,
    errors: list[dict[str, str]] | None = None,
    name: str = "",
    status: int = 200,
    reason: str | None = None,
) -> Response:
    token = secrets.token_urlsafe(32)
    message = None
    if reason in REASONS:
        message = REASONS[reason].format(minutes=int(web.sessions.idle.total_seconds() // 60))
    context: dict[str, Any] = {
        "program_name": web.program_name,
        "timezone": web.timezone,
        "errors": errors or [],
        "name": name,
        "token": token,
        "message": message,
        "title": "Sign in",
    }
    response = web.templates.TemplateResponse(request, "signin.html", context, status_code=status)
    _set_cookie(response, request, SIGNIN_COOKIE, token)
    return response


async def signin_form(request: Request) -> Response:
    web = web_state(request)
    if web.session_of(request) is not None:
        return RedirectResponse("/", status_code=303)
    reason = request.query_params.get("reason")
    response = _render_signin(request, web, reason=reason)
    if SESSION_COOKIE in request.cookies:  # a dead session's id: nothing to keep
        _expire_session_cookie(response, request)
    return response


async def signin_submit(request: Request) -> Response:
    web = web_state(request)
    try:
        form = await read_form(request)
    except FormTooLarge:
        return _render_signin(
            request, web, status=413, errors=[{"field": "name", "text": "The form was too long."}]
        )
    expected = request.cookies.get(SIGNIN_COOKIE, "")
    sent = form.get("token", "")
    if not expected or not hmac.compare_digest(expected.encode(), sent.encode("utf-8", "replace")):
        return _render_signin(
            request,
            web,
            status=400,
            errors=[{"field": "name", "text": "The sign-in form had expired. Try again."}],
        )
    name = form.get("name", "").strip()[:MAX_NAME]
    password = form.get("password", "")[:MAX_PASSWORD]
    errors = []
    if not name:
        errors.append({"field": "name", "text": "Enter your name"})
    if not password:
        errors.append({"field": "password", "text": "Enter your password"})
    if errors:
        return _render_signin(request, web, status=400, errors=errors, name=name)
    client = request.client.host if request.client else ""
    wait = web.throttle.wait_minutes(name, client)
    if wait:
        unit = "minute" if wait == 1 else "minutes"
        text = f"Too many tries to sign in. Wait {wait} {unit}, then try again."
        return _render_signin(
            request, web, status=429, errors=[{"field": "name", "text": text}], name=name
        )
    try:
        account = await web.node.sign_in(name, password)
    except Busy as exc:  # too many password checks at once: not counted as a failure
        return _render_signin(
            request, web, status=503, errors=[{"field": "name", "text": exc.message}], name=name
        )
    if account is None:
        web.throttle.failed(name, client)
        text = "The name or the password is not right. Check them and try again."
        return _render_signin(
            request, web, status=400, errors=[{"field": "name", "text": text}], name=name
        )
    web.throttle.succeeded(name)
    old = web.session_of(request)
    if old is not None:
        web.sessions.end(old, "signed_out")
    session = web.sessions.create(account.staff_id)
    response = RedirectResponse("/", status_code=303)
    _set_cookie(response, request, SESSION_COOKIE, session.sid)
    response.delete_cookie(SIGNIN_COOKIE, path="/", httponly=True, samesite="strict")
    return response


async def signout(request: Request) -> Response:
    web = web_state(request)
    session = web.session_of(request)
    try:
        form = await read_form(request)
    except FormTooLarge:
        form = {}
    token = form.get("csrf") or request.headers.get("x-csrf-token", "")
    if session is not None and not session.csrf_ok(token):
        return Response(
            "The sign-out form had expired. Reload the page and sign out again.",
            status_code=403,
            media_type="text/plain; charset=utf-8",
        )
    if session is not None:
        web.sessions.end(session, "signed_out")
    response = RedirectResponse("/signin?reason=signed_out", status_code=303)
    _expire_session_cookie(response, request)
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
