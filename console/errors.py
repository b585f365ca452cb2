"""The console's errors. Each has ``message``: plain words fit to show the person.

::

    ConsoleError
     +-- NotFound        no such conversation, or one this account may not see (the same
     |                   error and the same words, so conversation ids cannot be probed)
     +-- Forbidden       this role may not do this (a support worker's account doing a
     |                   supervisor's action)
     +-- Conflict        the state changed under you (someone else took it first)
     +-- NotAllowed      the workflow refuses, and says why ("You are not on shift")
     +-- SetupError      the service cannot start as asked (settings, keystore, TLS)

None of them carries message content, a password or a key.
"""

from __future__ import annotations

__all__ = ["Conflict", "ConsoleError", "Forbidden", "NotAllowed", "NotFound", "SetupError"]


class ConsoleError(Exception):
    """Root of the console's errors; ``message`` is fit to show the person."""

    default = "Something went wrong."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default
        super().__init__(self.message)


class NotFound(ConsoleError):
    default = "There is no such conversation, or it is not yours."


class Forbidden(ConsoleError):
    default = "Only a supervisor or an admin can do this."


class Conflict(ConsoleError):
    default = "Someone else changed this first. The screen now shows it as it is."


class NotAllowed(ConsoleError):
    default = "This cannot be done now."


class SetupError(ConsoleError):
    default = "The console cannot start with these settings."
