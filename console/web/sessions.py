"""Staff sessions of the console, in memory only.

A session is a 256-bit random id (the cookie) bound to one staff account, with its own
CSRF token. Nothing is written to disk: sessions die with the process, so a restart
signs everyone out. A session ends at sign-out, when the account is disabled, or after
``idle`` without activity (a page load or an action in the browser; the live socket's
own traffic does not count, so a console left open on a shared computer ends).

Time comes from a :class:`~client_sdk.workflow.clock.Clock`, so tests drive the idle
timer without sleeping. Ids and tokens are compared in constant time and never appear
in a ``repr``.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from client_sdk.workflow.clock import Clock

__all__ = ["Session", "SessionStore"]

MAX_REMEMBERED = 1000


@dataclass(eq=False)
class Session:
    """One signed-in browser. ``ended`` is set once, when the session stops."""

    staff_id: str
    last_active: datetime
    sid: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    ended: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    end_reason: str | None = None
    sound: bool = True  # the worker's choice for this session (never stored anywhere)

    def csrf_ok(self, token: object) -> bool:
        """The token sent with a state change is this session's (constant time)."""
        return isinstance(token, str) and hmac.compare_digest(
            token.encode("utf-8", "replace"), self.csrf.encode()
        )


class SessionStore:
    """Every live session, by id. One owner: the console's web app."""

    def __init__(self, clock: Clock, idle: timedelta) -> None:
        if idle <= timedelta(0):
            raise ValueError("idle sign-out time must be positive")
        self._clock = clock
        self.idle = idle
        self._by_id: dict[str, Session] = {}
        self._ended: dict[str, str] = {}  # recently ended ids -> why (to tell the person)

    def create(self, staff_id: str) -> Session:
        session = Session(staff_id=staff_id, last_active=self._clock.now())
        self._by_id[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        """The live session with this id; ends it first if it has been idle too long."""
        if not sid:
            return None
        session = self._by_id.get(sid)
        if session is None or not hmac.compare_digest(session.sid.encode(), sid.encode()):
            return None
        if self.idle_for(session) >= self.idle:
            self.end(session, "idle")
            return None
        return session

    def idle_for(self, session: Session) -> timedelta:
        return self._clock.now() - session.last_active

    def remaining(self, session: Session) -> timedelta:
        return self.idle - self.idle_for(session)

    def touch(self, session: Session) -> None:
        session.last_active = self._clock.now()

    def end(self, session: Session, reason: str) -> None:
        if self._by_id.pop(session.sid, None) is not None or not session.ended.is_set():
            session.end_reason = session.end_reason or reason
            session.ended.set()
            self._ended[session.sid] = session.end_reason
            while len(self._ended) > MAX_REMEMBERED:
                del self._ended[next(iter(self._ended))]

    def ended_reason(self, sid: str | None) -> str | None:
        """Why the session with this id ended ("idle", "signed_out", ...), if it did lately."""
        return self._ended.get(sid) if sid else None

    def end_for_staff(self, staff_id: str, reason: str) -> None:
        for session in [s for s in self._by_id.values() if s.staff_id == staff_id]:
            self.end(session, reason)

    def sweep(self) -> None:
        """End every session idle too long (called now and then; ``get`` also checks)."""
        for session in list(self._by_id.values()):
            if self.idle_for(session) >= self.idle:
                self.end(session, "idle")

    def __len__(self) -> int:
        return len(self._by_id)

    def __repr__(self) -> str:
        return f"SessionStore(sessions={len(self._by_id)}, idle={self.idle})"
