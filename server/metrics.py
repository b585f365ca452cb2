"""``GET /metrics``: the relay's totals in Prometheus' text format, on a port of its own.

Off by default. With ``metrics_port`` (``--metrics-port``, ``QUIETLINE_METRICS_PORT``)
the relay also listens on ``metrics_host`` (default ``127.0.0.1``: only this machine)
at that port and answers ``GET /metrics`` there and nothing else. The public port never
serves it.

What an operator (or anyone who reaches the port) sees: totals over the whole process,
never per program, conversation, client or address. Every label value comes from a
fixed set written here or in :data:`server.errors.CODES`, so no label can carry an id,
an address or a time; no time is exported at all (no ``_created`` series).

The counts are plain integers on :class:`Metrics`: a hook on the hot path costs one
attribute addition, no lock. They are read when scraped, on the relay's event loop (the
listener is an asyncio server of the same loop), so a scrape never sees the ledger or
the guard half-changed. Each app has its own :class:`Metrics` and its own
``CollectorRegistry`` (never the process-wide default), so several relays in one
process (tests) keep apart.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from server.errors import CODES

log = logging.getLogger("quietline.relay")

PATH = b"/metrics"
HEAD_LIMIT = 8192
HEAD_TIMEOUT_SECONDS = 5.0
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
"""Writer batch sizes (ops per transaction); ``max_batch`` is 1,024 by default."""


class SizeHistogram:
    """Counts of observed sizes per bucket (``le`` bounds), their sum and number."""

    __slots__ = ("bounds", "counts", "observations", "total")

    def __init__(self, bounds: tuple[int, ...] = BATCH_BUCKETS) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0
        self.observations = 0

    def observe(self, size: int) -> None:
        self.counts[bisect.bisect_left(self.bounds, size)] += 1
        self.total += size
        self.observations += 1

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative counts, as Prometheus has them (the last bound is ``+Inf``)."""
        out, running = [], 0
        for bound, count in zip((*map(str, self.bounds), "+Inf"), self.counts, strict=True):
            running += count
            out.append((bound, running))
        return out


class Metrics:
    """The relay's totals. Hooks in server/ add to these attributes."""

    def __init__(self) -> None:
        self.messages_stored = 0
        self.messages_delivered = 0
        """Acknowledged by their recipient (and so deleted)."""
        self.messages_deleted_closed = 0
        """Deleted undelivered with their conversation (closed by a side, or swept)."""
        self.messages_deleted_expired = 0
        """Deleted undelivered by the sweeper, past ``message_ttl_hours``."""
        self.conversations_opened = 0
        self.conversations_closed = 0
        self.conversations_swept = 0
        self.sockets = 0
        """WebSockets open past their auth frame."""
        self.refusals = dict.fromkeys(sorted(CODES), 0)
        self.puzzles_issued = 0
        self.proofs_accepted = 0
        self.sweeps = 0
        self.sweep_failures = 0
        self.batch_sizes = SizeHistogram()
        self.waiting: Callable[[], tuple[int, int]] | None = None
        """Messages and bytes waiting undelivered (the quota ledger's totals)."""
        self.guard: Any = None
        """The connection guard (``server.guard.ConnectionGuard``) when serving."""
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Collector(self))

    def refused(self, code: str) -> None:
        """One request or frame refused with ``code`` (one of server.errors.CODES)."""
        if code in self.refusals:
            self.refusals[code] += 1

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class _Collector:
    def __init__(self, metrics: Metrics) -> None:
        self._m = metrics

    def collect(self) -> Iterator[Metric]:
        m = self._m
        yield _counter(
            "quietline_messages_stored", "Envelopes stored for a recipient.", m.messages_stored
        )
        yield _counter(
            "quietline_messages_delivered",
            "Envelopes their recipient acknowledged (and the relay deleted).",
            m.messages_delivered,
        )
        deleted = CounterMetricFamily(
            "quietline_messages_deleted",
            "Envelopes deleted undelivered: with their conversation (closed by a side or "
            "swept), or past their time to live.",
            labels=["reason"],
        )
        deleted.add_metric(["conversation_closed"], m.messages_deleted_closed)
        deleted.add_metric(["expired"], m.messages_deleted_expired)
        yield deleted
        conversations = CounterMetricFamily(
            "quietline_conversations",
            "Conversations opened, closed by a side, and deleted by the sweeper.",
            labels=["event"],
        )
        conversations.add_metric(["opened"], m.conversations_opened)
        conversations.add_metric(["closed"], m.conversations_closed)
        conversations.add_metric(["swept"], m.conversations_swept)
        yield conversations
        waiting_messages, waiting_bytes = m.waiting() if m.waiting is not None else (0, 0)
        yield _gauge(
            "quietline_waiting_messages", "Envelopes waiting undelivered.", waiting_messages
        )
        yield _gauge(
            "quietline_waiting_bytes", "Bytes of envelopes waiting undelivered.", waiting_bytes
        )
        yield _gauge("quietline_open_sockets", "WebSockets open past their auth frame.", m.sockets)
        guard = m.guard
        if guard is not None:
            yield _gauge(
                "quietline_open_connections", "Open connections (HTTP and WebSocket).", guard.total
            )
            refused = CounterMetricFamily(
                "quietline_connections_refused",
                "Connections refused at a cap: all connections (503), or one source's (429).",
                labels=["cap"],
            )
            refused.add_metric(["total"], guard.refused - guard.refused_per_source)
            refused.add_metric(["source"], guard.refused_per_source)
            yield refused
        refusals = CounterMetricFamily(
            "quietline_refusals",
            "Requests and WebSocket frames refused, by error code (docs/api.md).",
            labels=["code"],
        )
        for code, count in m.refusals.items():
            refusals.add_metric([code], count)
        yield refusals
        yield _counter(
            "quietline_pow_puzzles_issued", "Proof-of-work puzzles handed out.", m.puzzles_issued
        )
        yield _counter(
            "quietline_pow_proofs_accepted", "Proofs of work accepted.", m.proofs_accepted
        )
        yield _counter("quietline_sweeps", "Sweeper runs that completed.", m.sweeps)
        yield _counter("quietline_sweep_failures", "Sweeper runs that failed.", m.sweep_failures)
        batches = HistogramMetricFamily(
            "quietline_writer_batch_size", "Writes committed together in one transaction."
        )
        sizes = m.batch_sizes
        batches.add_metric([], sizes.buckets(), sum_value=sizes.total)
        yield batches


# -- the listener -----------------------------------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """A listening socket for the metrics port (bound before the relay starts, so a port
    in use is a one-line error, not a failed start half-way)."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(16)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen for metrics on {host}:{port}: {exc.strerror}") from None
    return sock


def _answer(status: bytes, content_type: str, body: bytes, *, head: bool = False) -> bytes:
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: " + content_type.encode() + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n"
        b"cache-control: no-store\r\nconnection: close\r\n\r\n" + (b"" if head else body)
    )


async def serve(metrics: Metrics, sock: socket.socket) -> asyncio.Server:
    """Answer ``GET /metrics`` on ``sock``, one request per connection; anything else
    is a 404. Logs nothing (no request, no address)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_SECONDS)
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            method = parts[0] if parts else b""
            path = parts[1].split(b"?", 1)[0] if len(parts) == 3 else b""
            if method in (b"GET", b"HEAD") and path == PATH:
                body = metrics.exposition()
                writer.write(
                    _answer(b"200 OK", CONTENT_TYPE_PLAIN_0_0_4, body, head=method == b"HEAD")
                )
            else:
                writer.write(_answer(b"404 Not Found", "text/plain", b"not found\n"))
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            pass
        except Exception as exc:  # never a traceback (which could quote the request)
            log.error("metrics request failed: %s", type(exc).__name__)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    return await asyncio.start_server(handle, sock=sock, limit=HEAD_LIMIT)
