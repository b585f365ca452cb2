"""``quietline relay audit`` and ``export``: show an auditor the relay holds nothing readable.

The audit checks a live database against the kinds declared on every column
(:mod:`server.models`): no table or column it does not know, every id and key of the
right length, every signature valid under the program's identity key, every
ciphertext an envelope whose encrypted part looks random, every time coarse, and
nothing past its TTL (allowing two sweep intervals for the sweeper to catch up). On
SQLite it also reads the database file (free pages included) and its WAL for envelope
bytes of conversations that no longer exist (:mod:`server.leftovers`).
Any finding makes the command exit non-zero.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.engine import Connection, make_url

from e2ee import identity
from e2ee.encoding import b64u_encode
from e2ee.envelope import Envelope
from e2ee.errors import QuietlineError
from server import leftovers
from server.db import create_engine
from server.models import KINDS, Base, hour_bucket
from server.settings import Settings
from server.wire import origin_ok

ALLOWED_EXTRA_TABLES = {"alembic_version"}
MAX_PRINTABLE_RUN = 24
MIN_ENTROPY_BITS = 6.5


def longest_printable_run(data: bytes) -> int:
    best = run = 0
    for b in data:
        run = run + 1 if 0x20 <= b < 0x7F or b in (0x09, 0x0A, 0x0D) else 0
        best = max(best, run)
    return best


def entropy_bits(data: bytes) -> float:
    n = len(data)
    return -sum(c / n * math.log2(c / n) for c in Counter(data).values()) if n else 0.0


def looks_random(data: bytes) -> bool:
    """Ciphertext has no long printable run, and enough byte entropy when long enough."""
    if longest_printable_run(data) >= MAX_PRINTABLE_RUN:
        return False
    return len(data) < 256 or entropy_bits(data) >= MIN_ENTROPY_BITS


class _Audit:
    def __init__(self, settings: Settings, now: int) -> None:
        self.settings = settings
        self.now = now
        self.findings: list[dict[str, str]] = []
        self.keys: dict[bytes, bytes] = {}

    def find(self, table: str, column: str, problem: str) -> None:
        if len(self.findings) < 1000:
            self.findings.append({"table": table, "column": column, "problem": problem})

    def schema(self, conn: Connection) -> list[str]:
        insp = inspect(conn)
        present = set(insp.get_table_names())
        for name in sorted(present - set(Base.metadata.tables) - ALLOWED_EXTRA_TABLES):
            if not name.startswith("sqlite_"):
                self.find(name, "*", "table not known to the audit")
        tables = []
        for name, table in Base.metadata.tables.items():
            if name not in present:
                self.find(name, "*", "table missing (is the database migrated?)")
                continue
            tables.append(name)
            actual = {c["name"] for c in insp.get_columns(name)}
            for extra in sorted(actual - {c.name for c in table.c}):
                self.find(name, extra, "column not known to the audit")
            for col in table.c:
                if col.info.get("kind") not in KINDS:
                    self.find(name, col.name, "column declares no known kind")
                if col.name not in actual:
                    self.find(name, col.name, "column missing")
        return tables

    def rows(self, conn: Connection, tables: list[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        if "programs" in tables:
            prog = Base.metadata.tables["programs"]
            for pid, key in conn.execute(select(prog.c.program_id, prog.c.identity_key)):
                self.keys[pid] = key
        order = ["programs"] + [t for t in tables if t != "programs"]
        for name in order:
            if name not in tables:
                continue
            table = Base.metadata.tables[name]
            try:
                result = conn.execute(select(table))
            except Exception as exc:
                self.find(name, "*", f"unreadable ({type(exc).__name__})")
                continue
            n = 0
            for row in result.mappings():
                n += 1
                for col in table.c:
                    self.value(name, col, row)
                self.expiry(name, row)
            counts[name] = n
        return counts

    def value(self, table: str, col: Any, row: Any) -> None:
        v = row[col.name]
        if v is None:
            return
        kind = col.info.get("kind")
        info = col.info
        if kind in (
            "opaque_id",
            "token_hash",
            "public_key",
            "signature",
            "ciphertext",
            "signed_document",
            "sealed_counter",
        ) and not isinstance(v, bytes):
            self.find(table, col.name, "value is not bytes")
            return
        if (
            kind in ("opaque_id", "token_hash", "public_key", "signature", "sealed_counter")
            and len(v) != info["size"]
        ):
            self.find(table, col.name, f"length {len(v)}, expected {info['size']}")
        elif kind == "public_key" and info["size"] == 44:
            try:
                identity.check_x25519_public_key(identity.PrekeyBody.from_bytes(v).public_key)
            except QuietlineError:
                self.find(table, col.name, "not a prekey body with a usable X25519 key")
        elif kind == "signature":
            self.signature(table, col, row)
        elif kind == "signed_document":
            try:
                parse = (
                    identity.parse_profile if info["label"] == "profile" else identity.parse_status
                )
                parse(v)
            except QuietlineError:
                self.find(table, col.name, "signed document does not parse")
        elif kind == "ciphertext":
            self.ciphertext(table, col, row, v)
        elif kind in ("coarse_time", "counter"):
            if not isinstance(v, int) or v < 0:
                self.find(table, col.name, "not a non-negative integer")
            elif kind == "coarse_time" and v % info["resolution"]:
                self.find(table, col.name, f"finer than {info['resolution']} seconds")
        elif kind == "enum" and v not in info["values"]:
            self.find(table, col.name, "value outside the declared enum")
        elif kind == "web_origin" and not (isinstance(v, str) and origin_ok(v)):
            self.find(table, col.name, "not a web origin")

    def signature(self, table: str, col: Any, row: Any) -> None:
        body_col = Base.metadata.tables[table].c[col.info["signs"]]
        body = row[body_col.name]
        key = self.keys.get(row["program_id"])
        if body is None or key is None:
            self.find(table, col.name, "signature without a body or a program")
            return
        try:
            identity.verify_signature(
                key, body_col.info["label"], row["program_id"], body, row[col.name]
            )
        except QuietlineError:
            self.find(table, col.name, "signature does not verify under the program's key")

    def ciphertext(self, table: str, col: Any, row: Any, v: bytes) -> None:
        try:
            env = Envelope.from_bytes(v)
        except QuietlineError:
            self.find(table, col.name, "does not parse as an envelope")
            return
        if env.conversation_id != row.get("conversation_id", env.conversation_id):
            self.find(table, col.name, "envelope names another conversation")
        if not looks_random(env.ciphertext) or not looks_random(env.header.to_bytes()):
            self.find(table, col.name, "encrypted part does not look random")

    def expiry(self, table: str, row: Any) -> None:
        s = self.settings
        grace = 2 * int(s.sweep_interval_seconds)
        now = self.now - grace
        bucket = hour_bucket(now)
        expired = {
            "messages": lambda: row["created_at"] + s.message_ttl_hours * 3600 <= bucket,
            "conversations": lambda: (
                row["active_at"] + s.idle_conversation_ttl_hours * 3600 <= bucket
                or (
                    row["state"] == "waiting"
                    and row["created_at"] + s.waiting_conversation_ttl_hours * 3600 <= bucket
                )
                or (row.get("confirm_by") is not None and row["confirm_by"] <= now)
            ),
            "program_sessions": lambda: row["expires_at"] <= now,
            "one_time_prekeys": lambda: row["expires_at"] <= now,
            "enrollment_tokens": lambda: (
                row["created_at"] + s.enrollment_token_ttl_hours * 3600 <= bucket
            ),
        }.get(table)
        try:
            if expired is not None and expired():
                self.find(table, "*", "a row past its TTL is still stored")
        except TypeError:
            pass  # a non-integer time was already reported


def _live_conversations(conn: Connection) -> set[bytes]:
    table = Base.metadata.tables["conversations"]
    try:
        return {bytes(r[0]) for r in conn.execute(select(table.c.conversation_id))}
    except Exception:  # a database that is not migrated: reported by the schema check
        return set()


async def run_audit(settings: Settings, now: int | None = None) -> dict[str, Any]:
    audit = _Audit(settings, int(time.time()) if now is None else now)
    engine = create_engine(settings.database_url)
    url = make_url(settings.database_url)
    files: dict[str, int] = {}
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(audit.schema)
            counts = await conn.run_sync(audit.rows, tables)
            if url.get_backend_name() == "sqlite" and url.database:
                # The files are read between two reads of the live conversations: one
                # opened or closed meanwhile by a running relay is not a leftover.
                live = await conn.run_sync(_live_conversations)
                await conn.rollback()
                files = leftovers.scan(url.database, live)
                live |= await conn.run_sync(_live_conversations)
                files = leftovers.scan(url.database, live) if any(files.values()) else files
                for name, n in files.items():
                    if n:
                        audit.find(
                            name, "*", f"envelope bytes of {n} closed conversation(s) left on disk"
                        )
    finally:
        await engine.dispose()
    return {"ok": not audit.findings, "findings": audit.findings, "rows": counts, "files": files}


def format_report(report: dict[str, Any]) -> str:
    lines = ["Quietline relay audit", ""]
    for table, n in sorted(report["rows"].items()):
        lines.append(f"  {table}: {n} rows checked")
    for name, n in sorted(report.get("files", {}).items()):
        lines.append(f"  file {name}: scanned, {n} closed conversation(s) with bytes left")
    lines.append("")
    if report["ok"]:
        lines.append(
            "OK: every value matches its declared kind; nothing readable, nothing expired."
        )
    else:
        lines.append(f"FAILED: {len(report['findings'])} finding(s)")
        lines += [f"  {f['table']}.{f['column']}: {f['problem']}" for f in report["findings"]]
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    return b64u_encode(value) if isinstance(value, bytes) else value


async def run_export(settings: Settings) -> dict[str, Any]:
    """Every row of every table the relay keeps, bytes as base64url."""
    engine = create_engine(settings.database_url)
    out: dict[str, Any] = {
        "note": "Everything this relay stores. Bytes are base64url. Kinds: see each column.",
        "tables": {},
    }
    try:
        async with engine.connect() as conn:
            present = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            for name, table in Base.metadata.tables.items():
                if name not in present:
                    continue
                rows = (await conn.execute(select(table))).mappings().all()
                out["tables"][name] = {
                    "kinds": {c.name: c.info.get("kind") for c in table.c},
                    "rows": [{k: _jsonable(v) for k, v in r.items()} for r in rows],
                }
    finally:
        await engine.dispose()
    return out
