"""`quietline demo` as a real process: both addresses answer, a participant (the SDK's
ParticipantClient, pointed at the relay the sample page names) is answered by the demo
worker through the console's own sign-in and WebSocket, and SIGINT stops every part
and deletes the demo's folder."""

from __future__ import annotations

import asyncio
import html
import json
import re
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from relay_process import free_port
from websockets.asyncio.client import connect as ws_connect

from client_sdk import ParticipantClient, events

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0


async def read_banner(process: asyncio.subprocess.Process) -> str:
    """The demo's output up to the banner's last line (the folder), within a deadline."""
    assert process.stdout is not None
    out: list[str] = []

    async def scan() -> str:
        assert process.stdout is not None
        while line := (await process.stdout.readline()).decode():
            out.append(line)
            if line.startswith("("):
                return "".join(out)
        raise AssertionError("the demo stopped")

    try:
        return await asyncio.wait_for(scan(), START_TIMEOUT)
    except (AssertionError, TimeoutError):
        err = b""
        if process.returncode is not None and process.stderr is not None:
            err = await process.stderr.read()
        raise AssertionError("the demo did not start:\n" + "".join(out) + err.decode()) from None


async def sign_in(console: str, name: str, password: str) -> tuple[httpx.Cookies, str]:
    async with httpx.AsyncClient(base_url=console) as http:
        form = await http.get("/signin")
        token = re.search(r'name="token" value="([^"]+)"', form.text)
        assert token is not None
        done = await http.post(
            "/signin", data={"token": token.group(1), "name": name, "password": password}
        )
        assert done.status_code == 303, done.text
        page = await http.get("/")
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf is not None
        return http.cookies, csrf.group(1)


async def answer_a_participant(console: str, page_html: str, password: str) -> None:
    attrs = dict(re.findall(r'data-([a-z-]+)="([^"]*)"', page_html))
    relay, program_id, key = (
        html.unescape(attrs[k]) for k in ("relay", "program-id", "identity-key")
    )
    cookies, csrf = await sign_in(console, "worker", password)
    cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
    ws_url = console.replace("http://", "ws://") + "ws"
    headers = {"Origin": console.rstrip("/"), "Cookie": cookie}
    async with (
        ws_connect(ws_url, additional_headers=headers) as ws,
        await ParticipantClient.connect(relay, program_id, key) as participant,
    ):
        await ws.send(json.dumps({"op": "hello", "csrf": csrf}))

        async def frame(predicate: Any) -> dict[str, Any]:
            while True:
                got = json.loads(await ws.recv())
                if predicate(got):
                    return dict(got)

        await asyncio.wait_for(frame(lambda f: f.get("type") == "snapshot" and f["waiting"]), 30)
        await ws.send(json.dumps({"op": "take_next", "req": 1}))
        taken = await asyncio.wait_for(frame(lambda f: f.get("req") == 1), 30)
        assert taken["ok"] and taken["conversation_id"] == participant.conversation_id
        cid = taken["conversation_id"]
        text = "Hello, I am here to listen. مرحبا 你好"
        await ws.send(json.dumps({"op": "send", "req": 2, "conversation_id": cid, "text": text}))
        assert (await asyncio.wait_for(frame(lambda f: f.get("req") == 2), 30))["ok"]

        async def answered() -> None:
            async for event in participant.events():
                if isinstance(event, events.Message) and event.text == text:
                    return

        await asyncio.wait_for(answered(), 30)
        await participant.send("thank you")
        entry = await asyncio.wait_for(
            frame(lambda f: f.get("type") == "entry" and f["entry"]["text"] == "thank you"), 30
        )
        assert entry["conversation_id"] == cid


@pytest.mark.slow
async def test_demo_starts_answers_and_cleans_up() -> None:
    console_port, page_port = free_port(), free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "quietline", "demo",
        "--console-port", str(console_port), "--page-port", str(page_port),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
    )  # fmt: skip
    try:
        banner = await read_banner(process)
        console, page = f"http://127.0.0.1:{console_port}/", f"http://127.0.0.1:{page_port}/"
        assert f"Participant page:  {page}" in banner and f"Staff console:     {console}" in banner
        password = re.search(r"worker / (\S+)", banner)
        folder = re.search(r"^\((.+)\)\.$", banner, re.MULTILINE)
        assert password is not None and folder is not None
        assert Path(folder.group(1)).is_dir()
        async with httpx.AsyncClient() as http:
            page_html = (await http.get(page)).text
            assert "data-quietline" in page_html
            assert (await http.get(console + "signin")).status_code == 200
        await answer_a_participant(console, page_html, password.group(1))

        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode == 0, err.decode()
        assert b"files are deleted" in out
        assert not Path(folder.group(1)).exists()
        async with httpx.AsyncClient() as http:
            for port in (console_port, page_port):
                with pytest.raises(httpx.ConnectError):
                    await http.get(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
