"""Fixtures for the console's tests: a real relay process, an enrolled program with a
profile open around the clock and staff accounts in its keystore, and a running
``ConsoleNode`` on it (tests/support/relay_process.py starts and stops the relay); for
the browser tests, the real widget beside a module's console ``stack`` (``site``).

Staff passwords use cheap Argon2id parameters here (the accounts' own default is the
library's); keystores are made by the real ``quietline program init``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from loading import load
from relay_process import FUNCTIONAL_LIMITS, RelayProcess, start_relay

from client_sdk.keystore import Keystore
from console.accounts import Account, StaffAccounts
from console.node import ConsoleNode
from console.settings import ConsoleSettings

PASSPHRASE = "correct horse battery staple (test only)"
ROOT = Path(__file__).resolve().parents[2]
FAST = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
OPEN_ALWAYS = {
    "name": "Harbour Support Line",
    "hours": {
        "timezone": "UTC",
        "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
    },
}
PASSWORDS = {
    "Sam": "sam's password 1",
    "Ali": "ali's password 2",
    "Kim": "kim's password 3",
    "Ada": "ada's password 4",
}
ROLES = {"Sam": "worker", "Ali": "worker", "Kim": "supervisor", "Ada": "admin"}


@pytest.fixture(scope="module")
def relay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RelayProcess]:
    r = start_relay(tmp_path_factory.mktemp("relay"), **FUNCTIONAL_LIMITS)
    try:
        yield r
    finally:
        r.stop()


@dataclass
class Program:
    keystore: Path
    program_id: str
    identity_key: str
    relay_url: str


def init_program(relay: RelayProcess, keystore: Path, profile: dict[str, Any]) -> Program:
    profile_file = keystore.with_suffix(".profile.json")
    profile_file.write_text(json.dumps(profile), encoding="utf-8")
    result = subprocess.run(
        [
            sys.executable, "-m", "quietline", "program", "init",
            "--keystore", str(keystore), "--relay", relay.url,
            f"--enrollment-token={relay.add_program()}", "--profile", str(profile_file), "--json",
        ],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
        env=dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    return Program(keystore, out["program_id"], out["identity_key"], relay.url)


def add_staff(keystore: Path, names: dict[str, str]) -> None:
    with Keystore.open(keystore, PASSPHRASE) as ks:
        accounts = StaffAccounts(ks, hasher=FAST)
        for name, role in names.items():
            accounts.add(name, role, PASSWORDS[name])
        ks.save()


@pytest.fixture
def program(relay: RelayProcess, tmp_path: Path) -> Program:
    enrolled = init_program(relay, tmp_path / "program.qlks", OPEN_ALWAYS)
    add_staff(enrolled.keystore, ROLES)
    return enrolled


@pytest.fixture
async def node(program: Program) -> AsyncIterator[ConsoleNode]:
    n = await ConsoleNode.open(
        program.keystore, PASSPHRASE, ConsoleSettings(port=0), hasher=FAST, auto_tick=False
    )
    try:
        yield n
    finally:
        await n.aclose()


@pytest.fixture
def staff(node: ConsoleNode) -> dict[str, Account]:
    return {a.name: a for a in node.accounts.list()}


async def wait_for(
    events: AsyncIterator[Any], predicate: Callable[[Any], bool], timeout: float = 15.0
) -> Any:
    """The first item of ``events`` matching ``predicate`` (others are skipped)."""

    async def scan() -> Any:
        async for item in events:
            if predicate(item):
                return item
        raise AssertionError("stream ended")

    return await asyncio.wait_for(scan(), timeout)


@pytest.fixture
def waiter() -> Callable[..., Any]:
    return wait_for


@pytest.fixture(scope="module")
def site(stack: Any) -> Iterator[str]:
    """For the browser tests on a console ``stack`` (tests/console/web_harness.py): the
    real widget (``quietline widget serve``) on the port of the website its profile
    names."""
    widget = load("quietline_widget_harness", "widget/widget_harness.py")
    ident = (stack.enrolled.program_id, stack.enrolled.identity_key)
    port = stack.site.rsplit(":", 1)[1]
    with widget.widget_serve(stack.relay.url, ident, ["--port", port]) as url:
        yield url
