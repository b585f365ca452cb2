"""Helpers for the relay tests: a migrated database, the app in process (httpx ASGI),
and the real relay process (``relay_process``, in tests/support).

Test actors use only the public wire formats of ``e2ee``: an identity key pair signs
what a program publishes, and envelopes are real :class:`e2ee.envelope.Envelope` bytes
whose encrypted part is random (the relay cannot tell, and must not care).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from e2ee import identity
from e2ee.encoding import b64u_encode
from e2ee.envelope import MAX_ENVELOPE_SIZE, Envelope, Header, InitFields, envelope_aad
from server.app import create_app
from server.relay import token_hash
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


# -- envelopes and signed objects ------------------------------------------------------


def make_envelope(
    conversation_id: bytes,
    sender: int,
    recipient: int,
    *,
    init: bool = False,
    blocks: int = 1,
    n: int = 0,
) -> bytes:
    """A well-formed envelope with a random 'ciphertext' of 12 + ``blocks`` * 256 + 16 bytes.

    Past MAX_ENVELOPE_SIZE the bytes are put together by hand (Envelope refuses them)."""
    if 60 + 12 + 256 * blocks + 16 > MAX_ENVELOPE_SIZE:
        header = Header(dh=os.urandom(32), pn=0, n=n)
        aad = envelope_aad(conversation_id, sender, recipient, header)
        return aad + os.urandom(12 + 256 * blocks + 16)
    return Envelope(
        conversation_id=conversation_id,
        sender_slot=sender,
        recipient_slot=recipient,
        header=Header(dh=os.urandom(32), pn=0, n=n),
        ciphertext=os.urandom(12 + 256 * blocks + 16),
        init=InitFields(prekey_kind=1, prekey_id=1, enc=os.urandom(32)) if init else None,
    ).to_bytes()


def b64(data: bytes) -> str:
    return b64u_encode(data)


def profile_body(name: str = "Safe Harbor Line") -> bytes:
    return identity.canonical_json(
        {
            "v": 1,
            "name": name,
            "notice": {
                "voluntary": "You choose what to share.",
                "choices": "You can stop at any time.",
                "information": "We keep nothing after the chat.",
                "mandatory_reporting": "We must report a child in danger.",
            },
            "safety_check_in": "Are you safe to chat right now?",
            "questions": [],
            "hours": {"timezone": "Europe/Paris", "weekly": []},
            "alternatives": [{"label": "Phone", "value": "3919"}],
            "quick_exit_url": "https://www.example.org/weather",
            "issued_at": int(time.time()),
        }
    )


@dataclass
class ProgramActor:
    """A program node, reduced to its public acts."""

    keys: identity.IdentityKeyPair = field(default_factory=identity.IdentityKeyPair.generate)
    session: str = ""

    @property
    def pid(self) -> str:
        return b64(self.keys.program_id)

    def signed(self, label: str, body: bytes) -> dict[str, str]:
        return {"body": b64(body), "signature": b64(self.keys.sign(label, body))}

    def enrollment(self, token: str, origins: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "enrollment_token": token,
            "identity_key": b64(self.keys.public_key),
            "signature": b64(
                self.keys.sign(
                    identity.LABEL_ENROLL, __import__("hashlib").sha256(token.encode()).digest()
                )
            ),
        }
        if origins is not None:
            body["origins"] = origins
        return body

    def prekey(
        self, prekey_id: int, *, one_time: bool, expires_in: int = 7 * 86400
    ) -> dict[str, str]:
        body = identity.PrekeyBody(
            prekey_id=prekey_id,
            public_key=os.urandom(32),
            expires_at=int(time.time()) + expires_in,
        )
        signed = identity.sign_prekey(self.keys, body, one_time=one_time)
        return signed.to_json()

    def status(self, state: str = "open", expires_in: int = 3600) -> dict[str, str]:
        now = int(time.time())
        status = identity.Status(
            state=state, message="We are here.", issued_at=now - 3600, expires_at=now + expires_in
        )  # type: ignore[arg-type]
        return identity.sign_status(self.keys, status).to_json()

    def profile(self) -> dict[str, str]:
        return self.signed(identity.LABEL_PROFILE, profile_body())

    def auth_headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.session}"}


async def new_enrollment_token(db: Path | str) -> str:
    """A token written into the SQLite file ``db``, or the database at the URL ``db``."""
    from server import db as dbmod
    from server import storage

    token = b64(os.urandom(32))
    engine = dbmod.create_engine(db if isinstance(db, str) else sqlite_url(db))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(storage.add_enrollment_token, token_hash(token), int(time.time()))
    finally:
        await engine.dispose()
    return token


async def enroll_program(
    client: httpx.AsyncClient,
    db: Path | str,
    origin: str,
    *,
    prekeys: int = 5,
    origins: list[str] | None = None,
    token: str | None = None,
) -> ProgramActor:
    """Enroll, authenticate and publish a full bundle; returns the program with a session.
    ``token``: an enrollment token made already (``relay add-program``), else one is
    written into the SQLite file ``db`` (or the database at the URL ``db``)."""
    program = ProgramActor()
    token = token or await new_enrollment_token(db)
    r = await client.post("/v1/programs", json=program.enrollment(token, origins))
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/programs/{program.pid}/challenge")
    challenge = r.json()["challenge"]
    from e2ee.encoding import b64u_decode

    sig = program.keys.sign(identity.LABEL_RELAY_AUTH, b64u_decode(challenge) + origin.encode())
    r = await client.post(
        f"/v1/programs/{program.pid}/session", json={"challenge": challenge, "signature": b64(sig)}
    )
    assert r.status_code == 200, r.text
    program.session = r.json()["session_token"]
    h = program.auth_headers()
    r = await client.put(
        f"/v1/programs/{program.pid}/signed-prekey",
        json=program.prekey(1, one_time=False),
        headers=h,
    )
    assert r.status_code == 200, r.text
    r = await client.put(f"/v1/programs/{program.pid}/profile", json=program.profile(), headers=h)
    assert r.status_code == 200, r.text
    r = await client.put(f"/v1/programs/{program.pid}/status", json=program.status(), headers=h)
    assert r.status_code == 200, r.text
    if prekeys:
        batch = [program.prekey(100 + i, one_time=True) for i in range(prekeys)]
        r = await client.post(
            f"/v1/programs/{program.pid}/one-time-prekeys", json={"prekeys": batch}, headers=h
        )
        assert r.status_code == 200, r.text
    return program


async def open_conversation(
    client: httpx.AsyncClient, program: ProgramActor, *, confirm: bool = True
) -> tuple[bytes, str]:
    """A new conversation; with ``confirm`` its participant comes back with its token
    (a fetch), as the widget does at once: only then does the program see it."""
    cid = os.urandom(16)
    env = make_envelope(cid, 0, 1, init=True)
    r = await client.post(
        "/v1/conversations", json={"program_id": program.pid, "envelope": b64(env)}
    )
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    if confirm:
        r = await client.get(
            f"/v1/conversations/{b64(cid)}/messages", headers={"authorization": f"Bearer {token}"}
        )
        assert r.status_code == 200, r.text
    return cid, token


# -- the app in process ------------------------------------------------------------------

IN_PROCESS_ORIGIN = "http://relay.test"


@dataclass
class InProcess:
    client: httpx.AsyncClient
    db: Path
    app: Any
    origin: str = IN_PROCESS_ORIGIN

    @property
    def relay(self) -> Any:
        return self.app.state.relay


UNLIMITED_SOURCES = {
    "limit_bundles_per_source": 1_000_000,
    "limit_conversations_per_source": 1_000_000,
    "limit_sends_per_source": 1_000_000,
}
"""Every in-process request comes from one source: the per-source limits are tested on a
real relay (tests/server/test_abuse_sources.py), not in every test that opens many
conversations."""


def make_settings(db: Path, **overrides: Any) -> Settings:
    values = {**UNLIMITED_SOURCES, **overrides}
    return Settings(database_url=sqlite_url(db), public_origin=IN_PROCESS_ORIGIN, **values)


@contextlib.asynccontextmanager
async def in_process(settings: Settings, db: Path) -> AsyncIterator[InProcess]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_ORIGIN) as client:
            yield InProcess(client=client, db=db, app=app)


# -- the real relay process: tests/support/relay_process.py ------------------------


def snapshot(db: Path | str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show that a refusal wrote nothing: of the SQLite file
    ``db``, or of the PostgreSQL database at the URL ``db``."""
    if isinstance(db, str):
        if not db.startswith("sqlite"):
            return _pg_snapshot(db)
        db = Path(db.split(":///", 1)[1])
    import sqlite3

    conn = sqlite3.connect(db)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall()) for n in names}
    finally:
        conn.close()


def _pg_snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    import psycopg

    conninfo = url.replace("postgresql+asyncpg://", "postgresql://", 1)
    with psycopg.connect(conninfo) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
        return {n: sorted(conn.execute(f'SELECT * FROM "{n}"').fetchall(), key=repr) for n in names}


def error_code(response: httpx.Response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])
