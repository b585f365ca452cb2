"""Reading an operation's arguments: each missing or mistyped field refused by name."""

from __future__ import annotations

from typing import Any

from console.errors import NotAllowed

__all__ = ["flag", "opt_text", "text"]


def text(args: dict[str, Any], name: str, what: str | None = None) -> str:
    """A required string argument."""
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise NotAllowed(f"Give the {what or name}.")
    return value


def opt_text(args: dict[str, Any], name: str) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise NotAllowed(f"The {name} must be text.")
    return value


def flag(args: dict[str, Any], name: str) -> bool:
    value = args.get(name, False)
    if not isinstance(value, bool):
        raise NotAllowed(f"{name} is yes or no (true or false).")
    return value
