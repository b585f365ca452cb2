"""Errors of the workflow layer (pure logic: every one is a misuse or a refused command)::

    WorkflowError
     +-- InvalidTime            a naive datetime, or a clock asked to go backwards
     +-- InvalidSetting         a setting, schedule, notice text or code word out of range
     +-- UnknownConversation    no open conversation with this id
     +-- UnknownStaff           no staff member with this id
     +-- InvalidState           the command does not fit the conversation's state
     +-- NotEligible            this staff member may not take this conversation now
     |                          (off shift, in the last minutes of a shift, at capacity)
     +-- NoOneAvailable         nobody eligible to hand a conversation to

Messages name ids and settings, never a code word, a notice's recipient or a secret.
"""

from __future__ import annotations

__all__ = [
    "InvalidSetting",
    "InvalidState",
    "InvalidTime",
    "NoOneAvailable",
    "NotEligible",
    "UnknownConversation",
    "UnknownStaff",
    "WorkflowError",
]


class WorkflowError(Exception):
    """Root of every workflow error."""


class InvalidTime(WorkflowError, ValueError):
    """A naive datetime, or a clock asked to go backwards."""


class InvalidSetting(WorkflowError, ValueError):
    """A setting, schedule, notice text or code word that is out of range."""


class UnknownConversation(WorkflowError, KeyError):
    """No open conversation has this id."""


class UnknownStaff(WorkflowError, KeyError):
    """No staff member has this id."""


class InvalidState(WorkflowError):
    """The command does not fit the conversation's current state."""


class NotEligible(WorkflowError):
    """This staff member may not take this conversation now."""


class NoOneAvailable(WorkflowError):
    """Nobody is eligible to take the conversation."""
