"""The console service's settings, checked when they are made.

Security property: the console carries staff passwords and every conversation, so it
listens on loopback only unless TLS is given (:class:`ConsoleSettings` refuses any
other host without ``tls_cert`` and ``tls_key``, and says why).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path

from console.errors import SetupError

__all__ = ["RANGES", "ConsoleSettings", "flag", "is_loopback", "range_text"]

# The allowed values of the settings `quietline program run` takes as flags (low, high;
# None: no upper bound). ConsoleSettings checks them; the flags' help quotes them.
RANGES: dict[str, tuple[int, int | None]] = {
    "default_shift_minutes": (1, 24 * 60),
    "max_shift_minutes": (1, 24 * 60),
    "subscriber_queue": (10, None),
    "signin_attempts": (1, None),
    "signin_window_seconds": (1, None),
    "password_workers": (1, 16),
    "password_waiting": (0, 1000),
}


def flag(field: str) -> str:
    """The command-line flag of a setting, as people type it: ``--password-workers``."""
    return "--" + field.replace("_", "-")


def range_text(field: str) -> str:
    """The allowed values of a setting in plain words: "1 to 16", "at least 10"."""
    low, high = RANGES[field]
    return f"at least {low}" if high is None else f"{low} to {high}"


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ConsoleSettings:
    """How the console is served and how it behaves.

    ``quietline program run`` sets every field but ``idle_signout_minutes`` from a flag
    of the same name (``--password-workers`` for ``password_workers``), and passes only
    the flags given, so the defaults live here alone. ``idle_signout_minutes`` is the
    admins' stored shift rule (``quietline program rules``), which replaces it once
    stored.

    - ``host``, ``port``: where it listens (default ``127.0.0.1:8100``); any host but
      loopback needs ``tls_cert`` and ``tls_key`` (PEM files).
    - ``idle_signout_minutes``: a browser session idle this long is signed out
      (shared office computers; default 30).
    - ``default_shift_minutes``: a shift started without an end lasts this long.
    - ``max_shift_minutes``: the longest shift one can go on in one step.
    - ``subscriber_queue``: updates one browser may have waiting; a browser that falls
      further behind is dropped (it reconnects and gets a fresh snapshot), so a slow
      browser never grows the node's memory.
    - ``signin_attempts``, ``signin_window_seconds``: sign-in throttling (the web side).
    - ``password_workers``: Argon2id hashes run at once, off the event loop
      (:mod:`console.passwords`); their memory is at most this times Argon2's
      ``memory_cost`` (64 MiB by default). ``password_waiting``: how many more may wait;
      beyond that a sign-in or password change is refused at once ("busy").
    """

    host: str = "127.0.0.1"
    port: int = 8100
    tls_cert: Path | None = None
    tls_key: Path | None = None
    idle_signout_minutes: int = 30
    default_shift_minutes: int = 8 * 60
    max_shift_minutes: int = 16 * 60
    subscriber_queue: int = 1000
    signin_attempts: int = 5
    signin_window_seconds: int = 300
    password_workers: int = 2
    password_waiting: int = 32

    def __post_init__(self) -> None:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SetupError("Give both --tls-cert and --tls-key, or neither.")
        if not self.tls and not is_loopback(self.host):
            raise SetupError(
                f"Refusing to listen on {self.host} without TLS: staff passwords and "
                "conversations would cross the network unencrypted. Give --tls-cert and "
                "--tls-key, or listen on 127.0.0.1."
            )
        for path in (self.tls_cert, self.tls_key):
            if path is not None and not Path(path).is_file():
                raise SetupError(f"TLS file not found: {path}")
        if not 0 <= self.port <= 65535:  # not "--port": `quietline demo` has --console-port
            raise SetupError("The port must be 0 to 65535.")
        for field, (low, high) in RANGES.items():
            value = getattr(self, field)
            if value < low or (high is not None and value > high):
                raise SetupError(f"{flag(field)} must be {range_text(field)}.")
        if not 1 <= self.idle_signout_minutes <= 24 * 60:
            raise SetupError("idle_signout_minutes must be 1 to 1440.")
        if self.default_shift_minutes > self.max_shift_minutes:
            raise SetupError(
                f"--default-shift-minutes ({self.default_shift_minutes}) must be at most "
                f"--max-shift-minutes ({self.max_shift_minutes})."
            )

    @property
    def tls(self) -> bool:
        """Served over TLS (cookies are then ``Secure``)."""
        return self.tls_cert is not None

    @property
    def url(self) -> str:
        """The console's address, for people."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/"
