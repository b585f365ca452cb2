"""Two relay processes on one PostgreSQL database with Redis between them, and a
balancer in front (tests/support/balancer.py): the scale-out deployment of
docs/scale-out.md, on loopback.

Both relays announce the balancer's origin (``--public-origin``): a program node signs
its challenge for the address it reaches, whichever relay answers.

A :class:`RelayPair` offers what a test uses of one relay (:class:`RelayProcess`):
``url`` (the balancer's), ``database_url``, ``cli``, ``add_program`` and ``stop``, so a
test written for one relay runs unchanged on the pair (the ``pg`` variants of the relay
fixtures, with the balancer in round-robin mode).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from balancer import Balancer
from relay_process import RelayProcess, free_port, start_relay


@dataclass
class RelayPair:
    a: RelayProcess
    b: RelayProcess
    balancer: Balancer

    @property
    def url(self) -> str:
        return self.balancer.url

    @property
    def database_url(self) -> str:
        return self.a.database_url

    def cli(self, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return self.a.cli(*args, **kwargs)  # type: ignore[arg-type]

    def add_program(self) -> str:
        return self.a.add_program()

    def stop(self) -> None:
        self.balancer.stop()
        self.a.stop()
        self.b.stop()


def start_pair(
    tmp: Path, database_url: str, broker_url: str, mode: str = "failover", **extra_env: str
) -> RelayPair:
    """Relays a and b on ``database_url`` and ``broker_url`` behind a balancer in
    ``mode`` (``failover``: every connection to a while it lives; ``round_robin``:
    connections alternate)."""
    port_a, port_b = free_port(), free_port()
    balancer = Balancer([port_a, port_b], mode).start()
    env = dict(extra_env, QUIETLINE_BROKER_URL=broker_url, QUIETLINE_PUBLIC_ORIGIN=balancer.url)
    (tmp / "a").mkdir(exist_ok=True)
    (tmp / "b").mkdir(exist_ok=True)
    try:
        a = start_relay(tmp / "a", port_a, database_url, **env)
    except Exception:
        balancer.stop()
        raise
    try:
        b = start_relay(tmp / "b", port_b, database_url, **env)
    except Exception:
        a.stop()
        balancer.stop()
        raise
    return RelayPair(a, b, balancer)
