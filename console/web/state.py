"""What the console's web app holds: the node, sessions, sign-in throttle, templates.

The program's name and time zone are read from the node's keystore each time a page
asks (:attr:`WebState.program_name`, :attr:`WebState.timezone`), never kept: a profile
an admin publishes (console page, ``quietline program profile set`` through the control
socket) shows on the next page at once. The idle sign-out follows the shift rules the
same way (the node's ``rules_listeners``, :mod:`console.web.app`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import HTTPConnection
from starlette.templating import Jinja2Templates

from client_sdk import store
from client_sdk.workflow.clock import Clock
from console.web.sessions import Session, SessionStore
from console.web.throttle import SignInThrottle

__all__ = ["SESSION_COOKIE", "SIGNIN_COOKIE", "WebState", "maybe_await", "web_state"]

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "quietline_console"
SIGNIN_COOKIE = "quietline_signin"


async def maybe_await(value: Any) -> Any:
    """The node may answer a read synchronously or as a coroutine; take either."""
    if inspect.isawaitable(value):
        return await value
    return value


@dataclass
class WebState:
    node: Any
    settings: Any
    clock: Clock
    sessions: SessionStore
    throttle: SignInThrottle
    templates: Jinja2Templates
    poll_seconds: float

    @property
    def program_name(self) -> str:
        """The program's name as participants see it now (``ConsoleNode.program_name``)."""
        name = getattr(self.node, "program_name", None)
        return name if isinstance(name, str) and name.strip() else "Quietline"

    @property
    def timezone(self) -> str | None:
        """The IANA time zone of the program's posted hours now, for the times pages show."""
        try:
            content = store.get_json(self.node.program.keystore, store.PROFILE_CONTENT) or {}
            zone = content["hours"]["timezone"]
        except (AttributeError, KeyError, TypeError, ValueError):
            return None
        plain = (
            isinstance(zone, str)
            and zone.replace("/", "").replace("_", "").replace("-", "").replace("+", "").isalnum()
        )
        return zone if plain else None

    def session_of(self, conn: HTTPConnection) -> Session | None:
        return self.sessions.get(conn.cookies.get(SESSION_COOKIE))

    def account_of(self, session: Session) -> Any:
        """The session's account, or None (and the session ends) if it is gone or disabled."""
        account = self.node.account(session.staff_id)
        if account is None or account.disabled:
            self.sessions.end(session, "disabled")
            return None
        return account


def web_state(conn: HTTPConnection) -> WebState:
    state: WebState = conn.app.state.web
    return state


def make_templates() -> Jinja2Templates:
    return Jinja2Templates(directory=str(HERE / "templates"))
