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
