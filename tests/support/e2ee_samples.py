"""Sample signed documents for the e2ee tests: one realistic profile and status."""

from __future__ import annotations

import dataclasses
from typing import Any

from e2ee.profile import Alternative, Hours, Notice, OpeningPeriod, Profile, Question, Status

NOW = 1_700_000_000


def make_profile(**changes: Any) -> Profile:
    profile = Profile(
        name="Safe Harbor Chat",
        notice=Notice(
            voluntary="This chat is voluntary. You can stop at any time.",
            choices="You choose what to share.",
            information="We do not keep a record of this chat.",
            mandatory_reporting="We must report if a child is in danger.",
            more_url="https://example.org/rights",
        ),
        safety_check_in="Are you safe to chat right now?",
        questions=(Question(id="age", text="How old are you?", why="To find the right help."),),
        hours=Hours(
            timezone="America/New_York",
            weekly=(
                OpeningPeriod(day=0, open="09:00", close="17:00"),
                OpeningPeriod(day=5, open="22:00", close="24:00"),
            ),
        ),
        alternatives=(Alternative(label="Hotline", value="+1 555 0100"),),
        quick_exit_url="https://weather.example/",
        issued_at=NOW - 100,
    )
    return dataclasses.replace(profile, **changes)


def make_status(**changes: Any) -> Status:
    return dataclasses.replace(
        Status(state="open", message="We are answering.", issued_at=NOW - 10, expires_at=NOW + 600),
        **changes,
    )


# Characters in a profile URL, True where accepted. Run through e2ee.profile
# (tests/e2ee/test_profile.py) and through the widget in Chromium
# (tests/widget/test_protocol_identity.py): the two must agree.
URL_CHARACTERS = {
    "\u0085": False,  # NEXT LINE (Cc)
    "\u00a0": False,  # NO-BREAK SPACE (Zs)
    "\u200b": False,  # ZERO WIDTH SPACE (Cf)
    "\u2028": False,  # LINE SEPARATOR (Zl)
    "\u2029": False,  # PARAGRAPH SEPARATOR (Zp)
    "\ufeff": False,  # BYTE ORDER MARK (Cf)
    "\u202e": False,  # RIGHT-TO-LEFT OVERRIDE (Cf)
    "\u3000": False,  # IDEOGRAPHIC SPACE (Zs)
    "\t": False,
    "\x7f": False,
    " ": False,
    "é": True,
    "/path?q=1#x": True,
}
