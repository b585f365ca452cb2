"""Transport helpers that need no relay: origins, URLs, backoff, error translation."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest

from client_sdk.errors import RelayUnavailable, UsageError, VerificationFailure
from client_sdk.transport import Backoff, RelayHTTP, RelaySocket, relay_origin, ws_url


def test_origin_drops_path_and_case() -> None:
    assert relay_origin("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert relay_origin("HTTPS://Relay.Example.org/x") == "https://relay.example.org"


def test_origin_refuses_other_schemes() -> None:
    with pytest.raises(UsageError):
        relay_origin("ftp://example.org")


def test_ws_url() -> None:
    assert ws_url("http://127.0.0.1:9/") == "ws://127.0.0.1:9/v1/ws"
    assert ws_url("https://r.example") == "wss://r.example/v1/ws"


def test_backoff_grows_then_caps_with_jitter() -> None:
    b = Backoff(base=0.1, cap=2.0)
    assert b.delay(0, lambda: 1.0) == pytest.approx(0.1)
    assert b.delay(3, lambda: 1.0) == pytest.approx(0.8)
    assert b.delay(10, lambda: 1.0) == pytest.approx(2.0)
    assert b.delay(10, lambda: 0.0) == pytest.approx(1.0)


async def test_unreachable_relay_is_relay_unavailable() -> None:
    with socket.socket() as s:  # bound, never listening: connections are refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        http = RelayHTTP(f"http://127.0.0.1:{port}", timeout=2)
        try:
            with pytest.raises(RelayUnavailable):
                await http.get_program("AAAAAAAAAAAAAAAAAAAAAA")
        finally:
            await http.aclose()


async def _ignore(frame: dict[str, Any]) -> None:
    raise AssertionError("no frame expected")


async def test_a_failing_token_provider_fails_start_with_its_own_error() -> None:
    """E.g. a relay that sent a malformed challenge: the typed error, not a timeout."""

    async def token() -> str:
        raise VerificationFailure("malformed", "relay sent a malformed challenge")

    sock = RelaySocket("http://127.0.0.1:9", token, _ignore)
    with pytest.raises(VerificationFailure) as info:
        await asyncio.wait_for(sock.start(timeout=30), 10)
    assert info.value.reason == "malformed"


async def test_no_socket_within_the_timeout_is_relay_unavailable() -> None:
    never = asyncio.Event()

    async def token() -> str:
        await never.wait()
        return "unused"

    sock = RelaySocket("http://127.0.0.1:9", token, _ignore)
    with pytest.raises(RelayUnavailable):
        await sock.start(timeout=0.2)


async def test_a_messages_frame_is_handed_on_as_its_message_frames_in_order(caplog) -> None:
    """Batched pushes (``"batch": true``): each item reaches ``on_frame`` as the plain
    ``message`` push it is; anything malformed in a batch is dropped with a warning."""

    async def token() -> str:
        return "t"

    sock = RelaySocket("http://127.0.0.1:9", token, _ignore, batch=True)
    one = {"type": "message", "id": "a", "conversation_id": "c", "envelope": "e"}
    two = {"type": "message", "id": "b", "conversation_id": "c", "envelope": "f"}
    sock._dispatch(
        json.dumps({"type": "messages", "messages": [one, "junk", two, {"type": "closed"}]})
    )
    sock._dispatch(json.dumps({"type": "messages", "messages": {"not": "a list"}}))
    sock._dispatch(json.dumps({"type": "closed", "conversation_id": "c"}))
    handed = [sock._frames.get_nowait() for _ in range(sock._frames.qsize())]
    assert handed == [one, two, {"type": "closed", "conversation_id": "c"}]
    assert caplog.text.count("dropped") == 3
