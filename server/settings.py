"""Every limit the relay enforces, as a named setting with a default.

Each field can be overridden by an environment variable ``QUIETLINE_<FIELD NAME>``
(upper case), e.g. ``QUIETLINE_MESSAGE_TTL_HOURS=24``. Values are checked at once:
a bad value stops the relay before it starts, never half-way through a request.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from server.db import SYNCHRONOUS

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///relay.db"
_MAY_BE_ZERO = frozenset({"commit_interval_ms", "metrics_port"})
PUSH_FRAME_LIMIT = 1024 * 1024
"""The largest WebSocket frame a client is sure to take: the Python SDK's limit."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    sqlite_synchronous: str = "NORMAL"
    """NORMAL survives a killed process; FULL also an OS crash (one fsync per batch)."""
    broker_url: str = ""
    """Empty: one relay process, fan-out in memory. ``redis://host:port/db``: every relay
    process on the same database tells the others through Redis pub/sub (server.fanout,
    docs/scale-out.md)."""
    quota_refresh_seconds: float = 5.0
    """With a broker: how often each process reads the waiting messages' totals from the
    shared database again, so the storage quotas count what the other processes stored
    and what was acked through them (server.quota)."""
    public_origin: str = "http://127.0.0.1:8000"
    """The relay's origin as clients reach it; programs sign challenges bound to it."""

    # Sizes and counts.
    max_envelope_size: int = 64 * 1024
    max_recipients: int = 7
    max_body_size: int = 1024 * 1024
    max_profile_size: int = 32 * 1024
    max_status_size: int = 4 * 1024
    max_origins: int = 8
    max_one_time_prekeys_per_upload: int = 200
    max_one_time_prekeys_stored: int = 2000
    max_ack_ids: int = 1000
    max_fetch_messages: int = 500
    max_ws_frame: int = 1024 * 1024
    max_push_batch_bytes: int = 256 * 1024
    """A ``messages`` push (to a socket that asked for batches) holds at most about this
    much text; a single larger message still goes, alone. With the largest envelope it
    must stay within PUSH_FRAME_LIMIT, the frame size clients take (checked at start)."""

    # Times.
    challenge_ttl_seconds: int = 60
    session_ttl_seconds: int = 3600
    message_ttl_hours: int = 7 * 24
    """An undelivered message is deleted after this long, acked or not."""
    idle_conversation_ttl_hours: int = 48
    """A conversation with no send for this long is deleted with every row it has."""
    waiting_conversation_ttl_hours: int = 12
    """A conversation the program never answered is deleted after this long."""
    enrollment_token_ttl_hours: int = 7 * 24
    sweep_interval_seconds: float = 60.0
    commit_interval_ms: float = 0.2
    """How long the writer waits to gather a batch once the first write arrived (0: no
    wait; a batch is then whatever queued while the previous one ran). Measured with
    bench/relay_bench.py: 0.2 ms beat both 0 and 2 ms on throughput and p99."""
    checkpoint_interval_ms: float = 250
    """SQLite: the least time between two of the checkpointer thread's WAL checkpoints
    while commits come (server.checkpointer). A message row is written and deleted
    within milliseconds, so the same pages go through the WAL again and again; a
    checkpoint copies each page once however often it changed since the last one.
    Measured with bench/relay_bench.py (paired runs): 250 ms took 6-8% less of the
    relay's CPU than 100 ms, and more than 50 ms did; 1,000 ms was worse (its WAL grew
    toward the writer's own backstop checkpoint). Forgetting does not wait on it: the
    sweeper's TRUNCATE checkpoint empties the WAL every ``sweep_interval_seconds``."""
    max_batch: int = 1024
    writer_in_thread: bool = False
    """Run write batches on a dedicated thread instead of the event loop (see Writer)."""
    gc_young_threshold: int = 10_000
    """``quietline relay serve`` only: how many more container objects (dicts, lists,
    frames..) made than freed start a collection of the youngest generation of Python's
    cyclic garbage collector (CPython's default: 700). The relay makes and frees a few
    dozen per message, nearly all freed at once by their reference counts; at 700 the
    collector ran every few messages and took about 7% of the relay's CPU
    (bench/relay_bench.py), for cycles that are rare here. Older generations keep
    CPython's ratios."""

    # Connections (server.guard, server.ws).
    max_connections: int = 4000
    """Open connections in all (HTTP and WebSocket); never more than the process's
    open-file limit less the files the relay keeps for itself (lowered at start). A
    connection over the cap is answered 503 at once and closed."""
    max_connections_per_source: int = 200
    """Open connections from one address (a keyed hash of it, in memory); 429 beyond.
    A trusted proxy's own address is not capped (its clients' are, per request)."""
    header_timeout_seconds: float = 10.0
    """A request's head must arrive within this long, or the connection is closed."""
    body_timeout_seconds: float = 30.0
    """A request's body must arrive within this long after its head (1 MiB at most)."""
    keep_alive_seconds: int = 5
    """An idle HTTP connection is closed after this long between requests."""
    ws_auth_timeout_seconds: float = 10.0
    """A WebSocket's first (auth) frame must arrive within this long (closed 4401)."""
    max_socket_queue_bytes: int = 4 * 1024 * 1024
    """Text queued for one WebSocket that does not read its frames fast enough; past
    it the socket is closed with 4008 (its messages wait in the database for the next
    connection). A push batch is 256 KiB: this is sixteen of them."""
    max_bad_frames: int = 10
    """Frames one WebSocket may have refused as malformed before it is closed (4400)."""
    trusted_proxy: str = ""
    """Addresses (comma-separated) of reverse proxies whose ``X-Forwarded-For`` names
    the client. Empty: forwarded headers are ignored, the peer's address counts."""

    # Monitoring (server.metrics).
    metrics_port: int = 0
    """The port of ``GET /metrics`` (Prometheus' text format: totals only, no label naming
    a program, conversation, client or address); 0, the default: no metrics at all. Never
    served on the relay's own port."""
    metrics_host: str = "127.0.0.1"
    """The address the metrics port listens on: this machine only, unless told otherwise."""

    # Abuse limits: events per key per minute, counted in memory on keyed hashes.
    limit_conversations_per_program: int = 120
    limit_sends_per_conversation: int = 600
    limit_connections_per_token: int = 60
    limit_bundles_per_program: int = 240
    limit_challenges_per_program: int = 60
    limit_enrollments_per_token: int = 30
    limit_generations_per_program: int = 60
    limit_bundles_per_source: int = 30
    limit_conversations_per_source: int = 20
    limit_sends_per_source: int = 3000
    """Per source (a keyed hash of the client's address, see server.sources), per minute:
    bundle fetches, conversations opened and participants' sends. A shelter or library
    behind one address has room for a dozen people starting a conversation at once; a
    program node's own sends are not counted here."""

    # Proof of work under pressure (server.pow).
    pow_pressure_fraction: float = 0.5
    """A program is under pressure once its free anonymous requests this minute reach
    this share of its allowance (limit_bundles_per_program, _conversations_per_program)."""
    pow_prekeys_per_minute: int = 30
    """...or once this many of its one-time prekeys were handed out this minute (the
    program is then told: a ``prekeys_draining`` push)."""
    pow_difficulty: int = 12
    """Zero bits a proof must have under pressure (about 4,000 SHA-256 hashes)."""
    pow_difficulty_max: int = 16
    """...once the free allowance is spent or prekeys go twice as fast (about 65,000:
    a second or two on a phone in the widget)."""
    pow_puzzle_ttl_seconds: int = 120
    unconfirmed_conversation_seconds: int = 300
    """A conversation whose participant never used its token (no WebSocket, no send, no
    fetch) within this long is dropped by the sweeper, and until then is not counted as
    waiting in the program's queue (a junk init from a script)."""

    # Storage quotas (server.quota): what may wait undelivered.
    quota_messages_per_conversation: int = 1000
    quota_bytes_per_conversation: int = 8 * 1024 * 1024
    quota_messages_per_program: int = 50_000
    quota_bytes_per_program: int = 256 * 1024 * 1024
    """A busy line: a few hundred conversations at once with a few hundred messages each
    waiting while the node is offline. A send past a quota is refused 429
    ``quota_exceeded`` and goes through once the recipient acks."""
    closed_memory: int = 100_000
    """How many recently closed conversation ids (as keyed hashes) the process remembers."""
    resend_memory: int = 50_000
    resend_memory_seconds: int = 300
    """A send repeated byte for byte within this long (a client resending after its answer
    was lost) is answered with the first one's message ids and not stored again. The
    process remembers up to ``resend_memory`` sends, as keyed hashes, in memory; with a
    broker, every process also keeps them in Redis for this long (server/shared_sends.py)."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or isinstance(value, bool):
                continue
            if not math.isfinite(value) or value < 0 or (value == 0 and f.name not in _MAY_BE_ZERO):
                raise ValueError(f"setting {f.name} must be positive, got {value!r}")
        if not self.database_url:
            raise ValueError("setting database_url is empty")
        if self.sqlite_synchronous not in SYNCHRONOUS:
            raise ValueError(f"setting sqlite_synchronous must be one of {SYNCHRONOUS}")
        largest_push = self.max_push_batch_bytes + (self.max_envelope_size * 4) // 3 + 1024
        if largest_push > PUSH_FRAME_LIMIT:
            raise ValueError(
                "setting max_push_batch_bytes with max_envelope_size makes pushes larger "
                f"than the {PUSH_FRAME_LIMIT} bytes a client takes in one frame"
            )
        if not 0 < self.pow_pressure_fraction <= 1:
            raise ValueError("setting pow_pressure_fraction must be in (0, 1]")
        if not self.pow_difficulty <= self.pow_difficulty_max <= 32:
            raise ValueError("settings pow_difficulty <= pow_difficulty_max <= 32")
        if self.max_recipients > 7:
            raise ValueError("setting max_recipients cannot exceed 7 (slots 0..7)")
        for address in self.trusted_proxy_list():
            try:
                ipaddress.ip_address(address)
            except ValueError:
                raise ValueError("setting trusted_proxy must list IP addresses") from None
        if self.metrics_port > 65535:
            raise ValueError("setting metrics_port must be a port number (0: off)")
        try:
            ipaddress.ip_address(self.metrics_host)
        except ValueError:
            raise ValueError("setting metrics_host must be an IP address") from None
        if self.broker_url and not self.broker_url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("setting broker_url must be a redis://, rediss:// or unix:// URL")
        if self.broker_url and self.database_url.startswith("sqlite"):
            raise ValueError(
                "setting broker_url needs a database server (postgresql+asyncpg://): "
                "several relay processes cannot share one SQLite file"
            )
        if not self.public_origin.startswith(("http://", "https://")):
            raise ValueError("setting public_origin must start with http:// or https://")

    def trusted_proxy_list(self) -> list[str]:
        return [a.strip() for a in self.trusted_proxy.split(",") if a.strip()]

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, *, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Defaults, then ``QUIETLINE_*`` variables, then explicit overrides (the CLI)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("QUIETLINE_" + f.name.upper())
            if raw is None:
                continue
            kind = type(getattr(cls(), f.name))
            try:
                if kind is bool:
                    if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
                        raise ValueError(raw)
                    values[f.name] = raw.lower() in ("1", "true", "yes")
                    continue
                values[f.name] = kind(raw)
            except ValueError:
                raise ValueError(
                    f"QUIETLINE_{f.name.upper()} is not a valid {kind.__name__}"
                ) from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
