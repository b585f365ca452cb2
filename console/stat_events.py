"""Counting as events happen: the node's events become independent counters.

:class:`EventCounter` sits in the node's single event consumer (:mod:`console.updates`)
and in the staff actions that have no event of their own (transfer, escalate, end).
For waiting time and length it keeps each open conversation's start time in memory,
and a few flags (answered, answers counted, duress counted, ended by staff); all of it
goes when the conversation ends, and none of it is ever written. Each event adds one to
one or more counters of :class:`~console.statistics.Statistics`, each on its own: what
is stored never says which counters one conversation moved.

Security property: this module never writes a conversation id, a staff id or a time
(only the day bucket :class:`Statistics` derives); a participant cannot create counters
(answers to questions the profile does not ask are ignored) nor inflate the per
conversation ones (answers and duress count once per conversation).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from client_sdk import events as ev
from console.statistics import Statistics, length_bucket, questions, wait_bucket

__all__ = ["EventCounter"]

log = logging.getLogger("console.statistics")


@dataclass
class _Open:
    """What statistics keep of an open conversation, in memory only."""

    started: datetime
    answered: bool = False
    answers_counted: bool = False
    duress_counted: bool = False
    ended_by_staff: bool = False
    participant_left: bool = False


class EventCounter:
    """Turns the node's events into counters (see the module's docstring)."""

    def __init__(self, stats: Statistics) -> None:
        self.stats = stats
        self._open: dict[str, _Open] = {}

    def __repr__(self) -> str:
        return f"EventCounter({len(self._open)} open)"

    def _count(self, now: datetime, metric: str, bucket: str) -> None:
        """One more in a counter; a failure (a keystore that cannot be read) is logged by
        type and never stops the console or a staff action."""
        try:
            self.stats.count(now, metric, bucket)
        except Exception as exc:  # statistics never stop the console
            log.warning("an event could not be counted: %s", type(exc).__name__)

    def resume(self, cid: str, started: datetime, *, answered: bool) -> None:
        """A conversation open when the node started (its start from the workflow)."""
        self._open.setdefault(cid, _Open(started, answered=answered))

    def staff_ending(self, cid: str, ending: bool = True) -> None:
        """A support worker, supervisor or admin is ending (or blocking) it (``False``:
        that failed, it goes on)."""
        if cid in self._open:
            self._open[cid].ended_by_staff = ending

    def transferred(self, now: datetime) -> None:
        self._count(now, "transfers", "transfer")

    def escalated(self, now: datetime) -> None:
        self._count(now, "transfers", "escalation")

    def on_event(self, event: ev.Event, now: datetime) -> None:
        """Count what ``event`` says happened at ``now``."""
        if isinstance(event, ev.NewConversation):
            self._open[event.conversation_id] = _Open(now)
            try:
                hour = now.astimezone(self.stats.day_zone()).hour
            except Exception as exc:  # statistics never stop the console
                log.warning("an event could not be counted: %s", type(exc).__name__)
                return
            self._count(now, "arrived", f"{hour:02d}")
            return
        c = self._open.get(getattr(event, "conversation_id", None) or "")
        if isinstance(event, ev.Assigned):
            if c is not None and not c.answered:
                c.answered = True
                seconds = (now - c.started).total_seconds()
                self._count(now, "waited", wait_bucket(seconds))
        elif isinstance(event, ev.Duress):
            if c is not None and not c.duress_counted:
                c.duress_counted = True
                self._count(now, "duress", "signal")
        elif isinstance(event, ev.CodeWordResult):
            outcome = {"verified": "matches", "wrong": "does_not_match"}.get(
                event.outcome, event.outcome
            )
            if outcome in ("matches", "does_not_match", "locked", "unknown_alias"):
                self._count(now, "code_word", outcome)
        elif isinstance(event, ev.VerificationFailed):
            if event.reason != "out_of_order":  # a late message is shown, not failed
                self._count(now, "verification", "failed")
        elif isinstance(event, ev.Answers):
            if c is not None and not c.answers_counted:
                c.answers_counted = True
                self._answers(event.answers, now)
        elif isinstance(event, ev.ParticipantLeft):
            if c is not None:
                c.participant_left = True
        elif isinstance(event, ev.ConversationClosedEvent):
            self._closed(event, now)

    def _answers(self, answers: dict[str, str], now: datetime) -> None:
        try:
            asked = questions(self.stats.keystore)
            settings = self.stats.settings()
        except Exception as exc:  # statistics never stop the console
            log.warning("answers could not be counted: %s", type(exc).__name__)
            return
        for qid, answer in sorted(answers.items()):
            if qid in asked and isinstance(answer, str) and answer.strip():
                self._count(now, f"answers/{qid}", settings.answer_bucket(qid, answer))

    def _closed(self, event: ev.ConversationClosedEvent, now: datetime) -> None:
        c = self._open.pop(event.conversation_id, None)
        if c is None:
            return  # opened before this node knew of it: nothing reliable to count
        # Staff first: a staff close reaches the node twice (its own answer and the relay's
        # "closed" to every side), the relay's may come first, and the participant's side
        # may say it left as it closes: what a staff member ended is ended by staff.
        if c.ended_by_staff:
            ended = "staff"
        elif c.participant_left or event.by in ("peer", "relay"):
            ended = "participant"
        elif event.reason == "inactivity":
            ended = "inactivity"
        elif event.reason == "closed" and not c.answered:
            ended = "closed"  # the workflow turned it away: outside hours or an outage
        else:
            ended = "other"
        self._count(now, "ended_by", ended)
        if not c.answered and ended != "closed":
            self._count(now, "waited", "not_answered")
        self._count(now, "length", length_bucket((now - c.started).total_seconds()))
