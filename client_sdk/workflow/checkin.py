"""One safety check-in: the profile's text, sent once.

The signed profile carries the program's safety check-in, and the widget shows it first,
from the profile, as soon as the chat opens. The check-in notice the node sends when a
conversation arrives must be that same text: the widget then recognises it and does not
show it again, so the participant reads one check-in, never two with different wording.
:attr:`CannedNotices.safety_check_in` is only the default a new profile starts from.
"""

from __future__ import annotations

from typing import Any

from client_sdk.workflow.engine import Workflow
from client_sdk.workflow.notices import CannedNotices

__all__ = ["use_profile_check_in", "with_profile_check_in"]


def with_profile_check_in(notices: CannedNotices, content: Any) -> CannedNotices:
    """``notices`` whose safety check-in is the profile ``content``'s, when it has one."""
    text = content.get("safety_check_in") if isinstance(content, dict) else None
    if not isinstance(text, str) or not text.strip() or text == notices.safety_check_in:
        return notices
    return notices.replace(safety_check_in=text)


def use_profile_check_in(workflow: Workflow, content: Any) -> None:
    """Make ``workflow`` send the profile ``content``'s check-in (the node's hook)."""
    workflow.notices = with_profile_check_in(workflow.notices, content)
