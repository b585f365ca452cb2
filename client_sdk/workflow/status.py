"""Live status: open, closed, busy or outage, signed, short-lived and re-signed in time.

The status object is signed by the program (label ``status``) and published to the
relay; the widget shows it and, past ``expires_at``, treats it as unknown and falls back
to the profile's hours and alternatives. So a relay cannot keep showing "open" after
the program said "outage": at most until the status it holds expires.

:class:`StatusKeeper` decides, with no I/O:

- the state chat is in now (:meth:`StatusKeeper.desired`): an ``outage`` set by staff
  wins, then a manual ``closed``, then the posted hours (closed outside them), then
  ``busy`` when every eligible staff member is at capacity or someone set ``busy``,
  else ``open``;
- whether new conversations are taken (:meth:`StatusKeeper.accepting_new`): only when
  the state is ``open``; ``busy`` conversations still queue (someone already in the
  window is not turned away), ``closed`` and ``outage`` get the closed notice;
- the message: a program's text per state (:class:`StatusMessages`) or a staff
  member's text with the override, with the alternatives appended unless open (left
  out if that would pass the protocol's ``MAX_STATUS_MESSAGE_LENGTH``: the signed
  profile lists them anyway);
- when a status must be (re-)signed (:meth:`StatusKeeper.due`): nothing published yet,
  the state or message changed, or the published one expires within
  ``resign_before``. The caller signs the returned :class:`StatusBody`, publishes it and
  reports it with :meth:`StatusKeeper.published`.

The body is canonical JSON exactly as docs/protocol.md states:
``json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` with
keys ``v``, ``state``, ``message``, ``issued_at``, ``expires_at`` (Unix seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from client_sdk.workflow.clock import utc
from client_sdk.workflow.errors import InvalidSetting
from client_sdk.workflow.hours import WeeklyHours
from e2ee import identity as _identity
from e2ee.errors import LocalProtocolError
from e2ee.identity import Alternative

__all__ = [
    "Alternative",
    "StatusBody",
    "StatusKeeper",
    "StatusMessages",
    "StatusPolicy",
    "StatusState",
]


_MAX_MESSAGE = _identity.MAX_STATUS_MESSAGE_LENGTH


def _check_message(text: object, what: str) -> None:
    """Non-empty, and a valid status message by the protocol core's rule (length,
    valid Unicode), so a body built from it always signs."""
    if not isinstance(text, str) or not text:
        raise InvalidSetting(f"{what} must be 1 to {_MAX_MESSAGE} characters")
    try:
        _identity.Status(state="open", message=text, issued_at=0, expires_at=0)
    except LocalProtocolError as exc:
        raise InvalidSetting(f"{what}: {exc}") from None


class StatusState(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    BUSY = "busy"
    OUTAGE = "outage"


@dataclass(frozen=True)
class StatusMessages:
    """The plain-language message shown with each state; alternatives are appended."""

    open: str = "Chat is open. Someone from our team will answer you."
    closed: str = "Chat is closed right now."
    busy: str = (
        "All of our team are talking with other people right now. You can wait and "
        "we will answer as soon as we can."
    )
    outage: str = "Chat is not working right now. We are sorry."

    def __post_init__(self) -> None:
        for state in StatusState:
            _check_message(self.for_state(state), f"the {state} message")

    def for_state(self, state: StatusState) -> str:
        text: str = getattr(self, state.value)
        return text


@dataclass(frozen=True)
class StatusPolicy:
    """How long a signed status lives and how early it is re-signed."""

    lifetime: timedelta = timedelta(minutes=15)
    resign_before: timedelta = timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.lifetime < timedelta(minutes=1):
            raise InvalidSetting("status lifetime must be at least one minute")
        if not timedelta(0) < self.resign_before < self.lifetime:
            raise InvalidSetting("resign_before must be positive and shorter than the lifetime")


@dataclass(frozen=True)
class StatusBody:
    """The signed status body (protocol ``status``)."""

    state: StatusState
    message: str
    issued_at: int
    expires_at: int

    def to_dict(self) -> dict[str, Any]:
        return self.to_status().to_json()

    def to_json_bytes(self) -> bytes:
        """The canonical bytes to sign (the protocol core's encoder)."""
        return self.to_status().to_body()

    def to_status(self) -> _identity.Status:
        """The protocol core's type; sign it with ``e2ee.identity.sign_status``."""
        return _identity.Status(
            state=self.state.value,
            message=self.message,
            issued_at=self.issued_at,
            expires_at=self.expires_at,
        )

    @property
    def expires(self) -> datetime:
        return datetime.fromtimestamp(self.expires_at, UTC)


class StatusKeeper:
    """Decides the live status and when it needs signing. Pure: no clock, no I/O."""

    def __init__(
        self,
        hours: WeeklyHours | None = None,
        *,
        alternatives: tuple[Alternative, ...] = (),
        messages: StatusMessages | None = None,
        policy: StatusPolicy | None = None,
    ) -> None:
        self.hours = hours
        self.alternatives = tuple(alternatives)
        self.messages = messages or StatusMessages()
        self.policy = policy or StatusPolicy()
        self._override: StatusState | None = None
        self._override_message: str | None = None
        self._published: StatusBody | None = None

    def set_override(self, state: StatusState | None, message: str | None = None) -> None:
        """Staff set ``outage``, ``closed`` or ``busy`` by hand (or ``None`` to clear).

        ``open`` cannot be forced: outside the posted hours chat stays closed.
        """
        try:
            override = None if state is None else StatusState(state)
        except ValueError:
            raise InvalidSetting("a status override is outage, closed or busy") from None
        if override is StatusState.OPEN:
            raise InvalidSetting("open cannot be forced; clear the override instead")
        if message is not None:
            _check_message(message, "a status message")
        self._override = override
        self._override_message = message if override is not None else None

    @property
    def override(self) -> StatusState | None:
        return self._override

    def _alternatives_text(self) -> str:
        if not self.alternatives:
            return ""
        listed = "; ".join(f"{a.label}: {a.value}" for a in self.alternatives)
        return f" Other ways to reach us: {listed}."

    def desired(self, moment: datetime, *, at_capacity: bool = False) -> tuple[StatusState, str]:
        """The state now and its message (alternatives appended unless open)."""
        now = utc(moment)
        state: StatusState
        if self._override is StatusState.OUTAGE or self._override is StatusState.CLOSED:
            state = self._override
        elif self.hours is not None and not self.hours.is_open(now):
            state = StatusState.CLOSED
        elif self._override is StatusState.BUSY or at_capacity:
            state = StatusState.BUSY
        else:
            state = StatusState.OPEN
        if self._override is not None and state is self._override and self._override_message:
            message = self._override_message
        else:
            message = self.messages.for_state(state)
        with_alternatives = message + self._alternatives_text()
        if state is not StatusState.OPEN and len(with_alternatives) <= _MAX_MESSAGE:
            message = with_alternatives
        return state, message

    def accepting_new(self, moment: datetime, *, at_capacity: bool = False) -> bool:
        """True when the state is ``open``."""
        return self.desired(moment, at_capacity=at_capacity)[0] is StatusState.OPEN

    def refuses_new(self, moment: datetime) -> bool:
        """True when closed or in outage (a new arrival gets the closed notice)."""
        state, _ = self.desired(moment)
        return state in (StatusState.CLOSED, StatusState.OUTAGE)

    def due(self, moment: datetime, *, at_capacity: bool = False) -> StatusBody | None:
        """A status body to sign and publish now, or ``None`` if the published one holds."""
        now = utc(moment)
        state, message = self.desired(now, at_capacity=at_capacity)
        current = self._published
        if (
            current is not None
            and current.state is state
            and current.message == message
            and current.expires - now > self.policy.resign_before
        ):
            return None
        issued = int(now.timestamp())
        return StatusBody(
            state=state,
            message=message,
            issued_at=issued,
            expires_at=issued + int(self.policy.lifetime.total_seconds()),
        )

    def published(self, body: StatusBody) -> None:
        """Record that ``body`` was signed and accepted by the relay."""
        self._published = body

    @property
    def current(self) -> StatusBody | None:
        return self._published
