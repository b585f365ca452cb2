"""The test balancer (tests/support/balancer.py) in front of the pg variants: round robin
spreads new connections over the relays, failover keeps them on the first that lives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from balancer import Balancer
from relay_process import free_port


async def _named_server(name: bytes) -> tuple[asyncio.Server, int]:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name)
        await writer.drain()
        writer.close()

    port = free_port()
    return await asyncio.start_server(answer, "127.0.0.1", port), port


@pytest.fixture
async def servers() -> AsyncIterator[list[tuple[asyncio.Server, int]]]:
    made = [await _named_server(b"a"), await _named_server(b"b")]
    yield made
    for server, _ in made:
        server.close()
        await server.wait_closed()


async def _who(balancer: Balancer) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", balancer.port)
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("mode", ["round_robin", "failover"])
async def test_each_new_connection_goes_to_the_next_live_target(servers, mode) -> None:
    balancer = Balancer([port for _, port in servers], mode).start()
    try:
        got = [await _who(balancer) for _ in range(4)]
        assert got == ([b"a", b"b", b"a", b"b"] if mode == "round_robin" else [b"a"] * 4)
        first, _ = servers[0]
        first.close()
        await first.wait_closed()  # a's relay is gone: every connection goes to b
        assert [await _who(balancer) for _ in range(3)] == [b"b"] * 3
    finally:
        balancer.stop()


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="mode"):
        Balancer([1], "random")
