"""Two relay processes on one PostgreSQL database with Redis between them, and a
balancer in front (tests/support/balancer.py): the scale-out deployment of
docs/scale-out.md, on loopback.

Both relays announce the balancer's origin (``--public-origin``): a program node signs
its challenge for the address it reaches, whichever relay answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from balancer import Balancer
from relay_process import RelayProcess, free_port, start_relay


@dataclass
class RelayPair:
    a: RelayProcess
    b: RelayProcess
    balancer: Balancer

    def stop(self) -> None:
        self.balancer.stop()
        self.a.stop()
        self.b.stop()


def start_pair(tmp: Path, database_url: str, broker_url: str, **extra_env: str) -> RelayPair:
    port_a, port_b = free_port(), free_port()
    balancer = Balancer([port_a, port_b]).start()
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
