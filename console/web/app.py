"""The console's web app: ``create_app(node, settings)`` -> Starlette.

Routes (all answers carry the headers of :mod:`console.web.headers`):

====================  =====================================================
``GET /signin``       the sign-in form (:mod:`console.web.auth`)
``POST /signin``      sign in (throttled, CSRF-checked), then ``/``
``POST /signout``     sign out (CSRF-checked), ``Clear-Site-Data``
``GET /``             the shift screen (:mod:`console.web.routes`)
``GET /healthz``      ``ok``
``WS /ws``            live updates and actions (:mod:`console.web.socket`)
``GET /static/...``   the console's CSS and ES modules
``GET /widget/...``   the widget's own files (public), for the profile page's preview
====================  =====================================================
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from client_sdk.workflow.clock import Clock, SystemClock
from console.web.admin import admin_routes
from console.web.auth import signin_form, signin_submit, signout
from console.web.headers import SecurityHeaders
from console.web.routes import favicon, healthz, shift_screen
from console.web.sessions import SessionStore
from console.web.socket import console_socket
from console.web.state import HERE, WebState, make_templates
from console.web.throttle import SignInLimits, SignInThrottle
from quietline.widget_cli import WIDGET_DIR

__all__ = ["create_app"]

DEFAULT_IDLE_MINUTES = 30
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1", "[::1]")


def _follow_rules(node: Any, sessions: SessionStore) -> None:
    """The idle sign-out follows the program's shift rules (console/rules.py): the stored
    one at start, and a change at once (the node calls its ``rules_listeners``); an
    account's sessions end when the node says so (``signout_listeners``: a password reset)."""
    listeners = getattr(node, "rules_listeners", None)
    if not isinstance(listeners, list):
        return

    def apply(found: Any) -> None:
        sessions.idle = found.idle

    listeners.append(apply)
    current = getattr(node, "current_rules", None)
    if current is not None:
        apply(current)
    signouts = getattr(node, "signout_listeners", None)
    if isinstance(signouts, list):
        signouts.append(lambda staff_id: sessions.end_for_staff(staff_id, "expired"))


def create_app(
    node: Any,
    settings: Any = None,
    *,
    clock: Clock | None = None,
    limits: SignInLimits | None = None,
    poll_seconds: float = 5.0,
) -> Starlette:
    """The console for ``node`` (a ``ConsoleNode``). ``clock`` drives idle sign-out and
    sign-in throttling (tests pass a ``ManualClock``); ``poll_seconds`` is how often an
    open socket checks that its session is still live."""
    clock = clock or SystemClock()
    if limits is None and settings is not None:
        attempts = int(getattr(settings, "signin_attempts", SignInLimits.per_name))
        limits = SignInLimits(
            per_name=attempts,
            per_client=attempts * 4,
            window=timedelta(seconds=settings.signin_window_seconds)
            if hasattr(settings, "signin_window_seconds")
            else SignInLimits.window,
        )
    minutes = getattr(settings, "idle_signout_minutes", DEFAULT_IDLE_MINUTES)
    web = WebState(
        node=node,
        settings=settings,
        clock=clock,
        sessions=SessionStore(clock, timedelta(minutes=minutes)),
        throttle=SignInThrottle(clock, limits),
        templates=make_templates(),
        poll_seconds=poll_seconds,
    )
    _follow_rules(node, web.sessions)
    middleware = [Middleware(SecurityHeaders)]
    host = getattr(settings, "host", "127.0.0.1")
    if host in LOOPBACK_NAMES or host.startswith("127."):
        # On loopback only loopback names are answered: a page elsewhere whose name is
        # made to point at 127.0.0.1 (DNS rebinding) gets 400, never the console.
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(LOOPBACK_NAMES)))
    app = Starlette(
        routes=[
            Route("/", shift_screen, methods=["GET"]),
            Route("/signin", signin_form, methods=["GET"]),
            Route("/signin", signin_submit, methods=["POST"]),
            Route("/signout", signout, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/favicon.ico", favicon, methods=["GET"]),
            *admin_routes(),
            WebSocketRoute("/ws", console_socket),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
            # the widget's own modules, for the profile page's preview (public files)
            Mount("/widget", StaticFiles(directory=str(WIDGET_DIR)), name="widget"),
        ],
        middleware=middleware,
    )
    app.state.web = web
    return app
