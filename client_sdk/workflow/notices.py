"""Canned notices: the standard messages a program sends, editable, in plain language.

The guide asks programs to tell people up front about their rights and the limits of
confidentiality, to check in about their safety at the start, to warn before closing
a silent chat, and to tell them when someone new is answering. :class:`CannedNotices`
holds one text for each, with defaults in short plain language; a program replaces any
of them (:meth:`CannedNotices.replace`) and stores its version as JSON
(:meth:`CannedNotices.to_dict` / :meth:`CannedNotices.from_dict`).

Each text becomes a :class:`Notice` (kind + body), which the program node sends as a
protocol ``notice`` payload (:meth:`Notice.to_payload` gives an
:class:`e2ee.payload.Notice`) inside the ratchet: the relay never sees it. The rights
notice and the safety check-in are also part of the signed profile
(:meth:`RightsNotice.to_identity` gives the :class:`e2ee.identity.Notice`), so the
widget shows them before the participant can type.

Placeholders: the inactivity text may contain ``{minutes}`` (replaced by the minutes
left before the chat closes). No other text is formatted, so a program's text is sent
exactly as written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

from client_sdk.workflow.errors import InvalidSetting
from e2ee import identity as _identity
from e2ee import payload as _payload
from e2ee.errors import LocalProtocolError

__all__ = [
    "MAX_NOTICE_BODY_BYTES",
    "MAX_NOTICE_BYTES",
    "CannedNotices",
    "Notice",
    "NoticeKind",
    "RightsNotice",
]

MAX_NOTICE_BYTES = _identity.MAX_NOTICE_TEXT_LENGTH
"""Largest canned text in UTF-8 bytes (the profile allows its notice texts this many
characters; counting bytes is stricter)."""

MAX_NOTICE_BODY_BYTES = 12 * 1024
"""Largest notice body sent (the rights notice joins four texts; payloads stop at 16 KiB)."""


class NoticeKind(StrEnum):
    """The ``kind`` of a protocol ``notice`` payload."""

    RIGHTS = "rights"
    SAFETY_CHECK_IN = "safety_check_in"
    INACTIVITY = "inactivity"
    CLOSING = "closing"
    SHIFT_CHANGE = "shift_change"
    TRANSFER = "transfer"
    CODE_WORD_REQUEST = "code_word_request"
    CUSTOM = "custom"


def _check_text(text: str, what: str, limit: int = MAX_NOTICE_BYTES) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidSetting(f"{what} must be a non-empty text")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidSetting(f"{what} is not valid Unicode text") from None
    if size > limit:
        raise InvalidSetting(f"{what} is longer than {limit} bytes")
    return text


@dataclass(frozen=True)
class Notice:
    """A notice to send to a participant: ``kind`` and plain-text ``body``."""

    kind: NoticeKind
    body: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", NoticeKind(self.kind))
        _check_text(self.body, f"the {self.kind} notice", MAX_NOTICE_BODY_BYTES)

    def to_payload(self, ts_ms: int) -> _payload.Notice:
        """The protocol ``notice`` payload, stamped with the sender's clock (Unix ms)."""
        return _payload.Notice(kind=self.kind.value, body=self.body, ts=ts_ms)


@dataclass(frozen=True)
class RightsNotice:
    """Rights and confidentiality, in the four parts the guide names, plus a link.

    The profile's ``notice`` object (docs/protocol.md) has exactly these keys.
    """

    voluntary: str = (
        "Talking with us is your choice. You can stop at any time, and you do not "
        "have to give your name."
    )
    choices: str = "You decide what you tell us. You can skip any question."
    information: str = (
        "This chat is encrypted from your screen to ours. We do not keep a record of "
        "it after it ends, and we do not share what you tell us with anyone else "
        "unless you ask us to or the law requires it."
    )
    mandatory_reporting: str = (
        "Some things we must report by law: if a child is being hurt, or if someone "
        "is in immediate danger. If you start to tell us about this, we may stop you "
        "to remind you, and you can decide what to share."
    )
    more_url: str | None = None

    def __post_init__(self) -> None:
        for name in ("voluntary", "choices", "information", "mandatory_reporting"):
            _check_text(getattr(self, name), f"the rights notice's {name}")
        try:  # the profile's rule: an http(s) URL without control, format or space characters
            self.to_identity()
        except LocalProtocolError as exc:
            raise InvalidSetting(f"the rights notice: {exc}") from None
        if self.more_url is not None and not self.more_url.startswith("https://"):
            raise InvalidSetting("the rights notice's more_url must be an https:// link")

    def to_profile(self) -> dict[str, str]:
        """The profile's ``notice`` object (the protocol core's JSON form)."""
        return self.to_identity().to_json()

    def to_identity(self) -> _identity.Notice:
        """The profile's ``notice`` as the protocol core's type (for signing)."""
        return _identity.Notice(
            voluntary=self.voluntary,
            choices=self.choices,
            information=self.information,
            mandatory_reporting=self.mandatory_reporting,
            more_url=self.more_url,
        )

    @classmethod
    def from_identity(cls, notice: _identity.Notice) -> RightsNotice:
        return cls(
            notice.voluntary,
            notice.choices,
            notice.information,
            notice.mandatory_reporting,
            notice.more_url,
        )

    def text(self) -> str:
        """The four parts as one plain-text message (with the link, if any)."""
        parts = [self.voluntary, self.choices, self.information, self.mandatory_reporting]
        if self.more_url is not None:
            parts.append(f"More about your rights: {self.more_url}")
        return "\n\n".join(parts)


@dataclass(frozen=True)
class CannedNotices:
    """Every standard text a program sends; edit with :meth:`replace`."""

    rights: RightsNotice = RightsNotice()
    # Names the widget's controls as it labels them ("Quick exit", "Someone is here").
    # The default of a new profile's check-in (client_sdk.publishing); a published
    # profile's own text replaces it on the node (client_sdk.workflow.checkin).
    safety_check_in: str = (
        "Before we start: are you somewhere safe to chat? Could someone be watching "
        "this device or your screen? If you are worried, we can talk another way: by "
        "phone, from another device such as a library computer, or in person. To leave "
        "at once, use Quick exit or press Shift three times. If someone comes near, use "
        "Someone is here: you leave, and we know you cannot talk."
    )
    inactivity: str = (
        "We have not heard from you for a while. If you are still there, send any "
        "message. If we do not hear from you in {minutes} minutes, this chat will close."
    )
    closing: str = (
        "This chat is now closed. When you close this window, nothing of it stays on "
        "your screen, and we do not keep it. You are welcome to reach out again."
    )
    closed_now: str = (
        "Chat is closed right now, so no one can answer you here. Please reach us "
        "another way or come back during our hours."
    )
    shift_change: str = (
        "Our shift is changing. Someone else from our team is now answering you. "
        "You do not need to repeat anything you do not want to."
    )
    transfer: str = "Someone else from our team is now answering you."
    code_word_request: str = (
        "To make sure we are still talking with you, please type your code word. "
        "We may ask for it again during the chat."
    )

    def __post_init__(self) -> None:
        if not isinstance(self.rights, RightsNotice):
            raise InvalidSetting("rights must be a RightsNotice")
        for f in fields(self):
            if f.name != "rights":
                _check_text(getattr(self, f.name), f"the {f.name} notice")
        self.rights_notice()  # its four parts joined must fit one notice body

    def replace(self, **changes: Any) -> CannedNotices:
        """A copy with some texts changed (checked like the originals)."""
        return replace(self, **changes)

    # -- notices ------------------------------------------------------------------

    def rights_notice(self) -> Notice:
        return Notice(NoticeKind.RIGHTS, self.rights.text())

    def safety_check_in_notice(self) -> Notice:
        return Notice(NoticeKind.SAFETY_CHECK_IN, self.safety_check_in)

    def inactivity_notice(self, minutes_left: int) -> Notice:
        # "in 1 minute", never "in 1 minutes": the default text's "{minutes} minutes"
        # takes the singular for one; a program's own wording is left as written.
        unit = "minute" if minutes_left == 1 else "minutes"
        body = self.inactivity.replace("{minutes} minutes", f"{minutes_left} {unit}")
        body = body.replace("{minutes}", str(minutes_left))
        return Notice(NoticeKind.INACTIVITY, body)

    def closing_notice(self) -> Notice:
        return Notice(NoticeKind.CLOSING, self.closing)

    def closed_now_notice(self) -> Notice:
        return Notice(NoticeKind.CLOSING, self.closed_now)

    def shift_change_notice(self) -> Notice:
        return Notice(NoticeKind.SHIFT_CHANGE, self.shift_change)

    def transfer_notice(self) -> Notice:
        return Notice(NoticeKind.TRANSFER, self.transfer)

    def code_word_request_notice(self) -> Notice:
        return Notice(NoticeKind.CODE_WORD_REQUEST, self.code_word_request)

    @staticmethod
    def custom(body: str) -> Notice:
        return Notice(NoticeKind.CUSTOM, body)

    # -- storage ------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CannedNotices:
        """Build from :meth:`to_dict` output; missing keys keep their defaults."""
        if not isinstance(data, dict):
            raise InvalidSetting("canned notices must be an object")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InvalidSetting(f"unknown canned notices: {sorted(unknown)}")
        values = dict(data)
        if "rights" in values:
            rights = values["rights"]
            if not isinstance(rights, dict):
                raise InvalidSetting("rights must be an object")
            rights_known = {f.name for f in fields(RightsNotice)}
            if set(rights) - rights_known:
                raise InvalidSetting(f"unknown rights fields: {sorted(set(rights) - rights_known)}")
            values["rights"] = RightsNotice(**rights)
        return cls(**values)
