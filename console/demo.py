"""``quietline demo``: a whole support line on this machine, in one command.

In a new temporary folder it starts a relay (``quietline relay serve`` on a SQLite
file), creates a demo program (``quietline program init`` with a profile open around
the clock), adds a demo admin and a demo support worker with random passwords it
prints, a saved reply and a code word, runs the program node with the staff console
(the worker on shift, so the line is open), serves the sample program page with the
widget (``quietline widget serve``), registers that page's origin with the relay and
prints the two addresses. Ctrl-C (SIGINT) or SIGTERM stops every part of it and deletes
the folder.

Everything listens on 127.0.0.1 only. The passwords and the keystore passphrase are
fresh random values, for this run only; nothing is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from client_sdk.keystore import Keystore
from console.accounts import StaffAccounts
from console.errors import ConsoleError
from console.node import ConsoleNode
from console.replies import SavedReplies
from console.settings import ConsoleSettings

__all__ = ["main"]

START_TIMEOUT = 60.0
PROFILE = {
    "name": "Quietline demo line",
    "hours": {
        "timezone": "UTC",
        "weekly": [{"day": d, "open": "00:00", "close": "24:00"} for d in range(7)],
    },
    "alternatives": [{"label": "Demo helpline (phone)", "value": "+1 555 0100"}],
}
CODE_WORD = ("main", "lighthouse")


class DemoError(Exception):
    """A part of the demo did not start; the message says which."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _quietline(*args: str) -> list[str]:
    return [sys.executable, "-m", "quietline", *args]


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child: no QUIETLINE_* setting of the shell leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def _tail(log: Path) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-15:])
    return ""


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise DemoError(f"the {what} stopped:\n{_tail(log)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        if time.monotonic() > deadline:
            raise DemoError(f"the {what} did not answer in time:\n{_tail(log)}")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class Demo:
    """The demo's folder, processes and accounts."""

    def __init__(self, folder: Path, relay_port: int, console_port: int, page_port: int) -> None:
        self.folder = folder
        self.relay_url = f"http://127.0.0.1:{relay_port}"
        self.relay_port = relay_port
        self.console_port = console_port
        self.page_port = page_port
        self.page_url = f"http://127.0.0.1:{page_port}/"
        self.keystore = folder / "program.qlks"
        self.passphrase = secrets.token_urlsafe(24)
        self.passwords = {"admin": secrets.token_urlsafe(12), "worker": secrets.token_urlsafe(12)}
        self.database_url = f"sqlite+aiosqlite:///{folder / 'relay.db'}"
        self.relay: subprocess.Popen[bytes] | None = None
        self.page: subprocess.Popen[bytes] | None = None
        self.program: dict[str, str] = {}

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            return subprocess.Popen(
                _quietline(*args), stdout=log, stderr=subprocess.STDOUT, env=_clean_env()
            )

    def start_relay(self) -> None:
        self.relay = self._spawn(
            "relay", "relay", "serve", "--host", "127.0.0.1", "--port", str(self.relay_port),
            "--database-url", self.database_url,
        )  # fmt: skip
        _wait_http(
            f"{self.relay_url}/v1/openapi.json", self.relay, self.folder / "relay.log", "relay"
        )

    def create_program(self) -> None:
        token = subprocess.run(
            _quietline("relay", "add-program", "--json", "--database-url", self.database_url),
            capture_output=True, text=True, env=_clean_env(), check=False, timeout=120,
        )  # fmt: skip
        if token.returncode != 0:
            raise DemoError(f"the relay gave no enrollment token: {token.stderr.strip()}")
        profile = self.folder / "profile.json"
        profile.write_text(json.dumps(PROFILE), encoding="utf-8")
        init = subprocess.run(
            _quietline(
                "program", "init", "--keystore", str(self.keystore), "--relay", self.relay_url,
                "--enrollment-token=" + json.loads(token.stdout)["enrollment_token"],
                "--profile", str(profile), "--json",
            ),
            capture_output=True, text=True, check=False, timeout=120,
            env=_clean_env(QUIETLINE_PASSPHRASE=self.passphrase),
        )  # fmt: skip
        if init.returncode != 0:
            raise DemoError(f"the demo program could not be created: {init.stderr.strip()}")
        self.program = json.loads(init.stdout)
        with Keystore.open(self.keystore, self.passphrase) as ks:
            accounts = StaffAccounts(ks)
            accounts.add("admin", "admin", self.passwords["admin"])
            accounts.add("worker", "worker", self.passwords["worker"])
            SavedReplies(ks).add(
                "Greetings", "Hello", "Hello, thank you for writing to us. I am here to listen."
            )
            SavedReplies(ks).add(
                "Safety", "Safe to talk?", "Before we go on: is it safe for you to talk now?"
            )
            ks.save()

    def start_page(self) -> None:
        self.page = self._spawn(
            "page", "widget", "serve", "--port", str(self.page_port), "--relay", self.relay_url,
            "--program-id", self.program["program_id"],
            "--identity-key", self.program["identity_key"],
        )  # fmt: skip
        _wait_http(self.page_url, self.page, self.folder / "page.log", "sample page")

    async def on_started(self, node: ConsoleNode) -> None:
        """The node runs: register the page's origin, a code word, put the worker on shift."""
        await node.program.set_origins([self.page_url.rstrip("/")])
        await node.program.set_code_word(*CODE_WORD)
        worker = node.accounts.find("worker")
        assert worker is not None
        await node.go_on_shift(worker)
        self.start_page()
        print(self.banner(), flush=True)

    def banner(self) -> str:
        return "\n".join(
            [
                "",
                "Quietline demo is running. Everything is on this computer only.",
                "",
                f"  Participant page:  {self.page_url}",
                f"  Staff console:     http://127.0.0.1:{self.console_port}/",
                "",
                f"  Sign in as  worker / {self.passwords['worker']}   (support worker, on shift)",
                f"          or  admin  / {self.passwords['admin']}   (admin)",
                f'  Code word check:  alias "{CODE_WORD[0]}", word "{CODE_WORD[1]}"',
                "",
                "Open the participant page in one window and the console in another.",
                "Press Ctrl-C to stop the demo and delete all of its files",
                f"({self.folder}).",
                "",
            ]
        )

    def stop(self) -> None:
        _stop(self.page)
        _stop(self.relay)
        shutil.rmtree(self.folder, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quietline demo", description="a whole Quietline support line on this computer"
    )
    parser.add_argument("--console-port", type=int, default=8100, help="default 8100")
    parser.add_argument("--page-port", type=int, default=8080, help="default 8080")
    parser.add_argument("--relay-port", type=int, default=0, help="default: any free port")
    return parser


def _sigterm(signum: int, frame: FrameType | None) -> Any:
    raise KeyboardInterrupt  # while starting: stop and clean up like Ctrl-C


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    from console import service  # uvicorn and the web pages only when serving

    try:
        settings = ConsoleSettings(port=args.console_port)
        service.load_app_factory()
    except ConsoleError as exc:
        print(f"quietline demo: {exc.message}", file=sys.stderr)
        return 1
    for port in (args.console_port, args.page_port, args.relay_port):
        with socket.socket() as s:
            if port and s.connect_ex(("127.0.0.1", port)) == 0:
                print(f"quietline demo: port {port} is in use; choose another", file=sys.stderr)
                return 1
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    folder = Path(tempfile.mkdtemp(prefix="quietline-demo-"))
    demo = Demo(folder, args.relay_port or free_port(), args.console_port, args.page_port)
    previous = signal.signal(signal.SIGTERM, _sigterm)
    print("Starting the Quietline demo (relay, program, console, page)...", flush=True)
    try:
        demo.start_relay()
        demo.create_program()
        asyncio.run(
            service.serve(demo.keystore, demo.passphrase, settings, started=demo.on_started)
        )
    except KeyboardInterrupt:
        pass
    except (DemoError, ConsoleError, OSError) as exc:
        message = exc.message if isinstance(exc, ConsoleError) else str(exc)
        print(f"quietline demo: {message}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        demo.stop()
        print("The demo stopped and its files are deleted.", flush=True)
    return 0
