"""The relay's use cases, shared by the HTTP routes and the WebSocket.

Holds the process-wide parts: the writer (every write), the broker (fan-out), the abuse
limits and the caches of who holds which token. Caches hold token *hashes* only; a
token itself lives in this process just long enough to be hashed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from e2ee.encoding import b64u_encode
from e2ee.envelope import KIND_INIT
from server import messages, storage, verify
from server.broker import Broker, Event, LocalBroker, member_channel, program_channel
from server.checkpointer import BACKSTOP_PAGES, Checkpointer
from server.db import checkpoint, create_writer_engine, is_sqlite
from server.errors import ApiError
from server.fanout import RedisBroker
from server.limits import (
    Challenges,
    ClosedSet,
    KeyedHasher,
    RateLimiter,
    RecentSends,
    send_fingerprint,
)
from server.metrics import Metrics
from server.models import GENERATION_SIZE, hour_ceiling, minute_ceiling
from server.pow import Pressure, Puzzles
from server.quota import Ledger
from server.settings import Settings
from server.shared_sends import SharedSends
from server.storage import Principal
from server.vacuum import Vacuum
from server.wire import (
    decode_b64u,
    field_bytes,
    field_list,
    field_str,
    parse_envelope,
    parse_origins,
    path_id,
    signed_object,
)
from server.writer import Writer, WriterStopped

log = logging.getLogger("quietline.relay")
PROGRAM_SLOT = storage.PROGRAM_SLOT
PARTICIPANT_SLOT = storage.PARTICIPANT_SLOT
FIRST_INVITED_SLOT = 2
TRUNCATE_WAIT = 15.0
"""The longest a close waits for the WAL to be emptied before it is answered anyway."""
TOKEN_BYTES = 32


def token_hash(token: str) -> bytes:
    """SHA-256 of a token's text form: all the relay keeps of any token."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return b64u_encode(secrets.token_bytes(TOKEN_BYTES))


def message_event(message_id: bytes, conversation_id: bytes | str, envelope: bytes | str) -> Event:
    """A push of one message; the conversation id and envelope may come already as the
    canonical base64url text (the envelope as the sender sent it, checked on the way in)."""
    return {
        "type": "message",
        "id": b64u_encode(message_id),
        "conversation_id": conversation_id
        if isinstance(conversation_id, str)
        else b64u_encode(conversation_id),
        "envelope": envelope if isinstance(envelope, str) else b64u_encode(envelope),
    }


class Relay:
    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        *,
        broker: Broker | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.engine = engine
        self.clock = clock
        self.broker: Broker = broker or LocalBroker()
        sqlite = is_sqlite(settings.database_url)
        self.vacuum = None if sqlite else Vacuum(engine)
        self.writer = Writer(
            create_writer_engine(
                settings.database_url,
                synchronous=settings.sqlite_synchronous,
                autocheckpoint=BACKSTOP_PAGES if sqlite else None,
            ),
            interval=settings.commit_interval_ms / 1000,
            max_batch=settings.max_batch,
            # A database server's commits wait on the network: never on the event loop.
            in_thread=settings.writer_in_thread or not sqlite,
            checkpointer=Checkpointer(
                create_writer_engine(
                    settings.database_url, synchronous=settings.sqlite_synchronous
                ),
                interval=settings.checkpoint_interval_ms / 1000,
            )
            if sqlite
            else None,
            batch_sizes=self.metrics.batch_sizes,
        )
        hasher = KeyedHasher()
        self.hasher = hasher
        self.trusted_proxies = frozenset(settings.trusted_proxy_list())
        self.limits = RateLimiter(hasher)
        self.ledger = Ledger(
            conversation_messages=settings.quota_messages_per_conversation,
            conversation_bytes=settings.quota_bytes_per_conversation,
            program_messages=settings.quota_messages_per_program,
            program_bytes=settings.quota_bytes_per_program,
        )
        self.metrics.waiting = self.ledger.totals
        self.closed = ClosedSet(hasher, settings.closed_memory)
        self.recent_sends = RecentSends(
            hasher, settings.resend_memory, settings.resend_memory_seconds
        )
        self.shared_sends = (
            SharedSends(self.broker, settings.resend_memory_seconds)
            if isinstance(self.broker, RedisBroker)
            else None
        )
        """Recent sends of every relay process (with Redis between them), else None."""
        self.challenges = Challenges(settings.challenge_ttl_seconds)
        self.pressure = Pressure(settings)
        self.puzzles = Puzzles(settings)
        self.unconfirmed: set[bytes] = set()
        """Conversations this process opened whose participant has not used its token
        yet: a fast path for :meth:`confirm`. The lasting record is the conversation's
        ``confirm_by`` minute (server.storage), which survives a restart: such a
        conversation is not waiting in the queue and the sweeper drops it past that."""
        self._sessions: dict[bytes, tuple[bytes, int]] = {}
        self._members: dict[bytes, Principal] = {}
        self._member_hashes: dict[bytes, set[bytes]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.origins: dict[bytes, set[str]] = {}
        self.all_origins: frozenset[str] = frozenset()

    def now(self) -> int:
        return int(self.clock())

    async def start(self) -> None:
        # Forget before serving: a close committed just before a crash may have left its
        # envelopes in the WAL's older frames (the close is answered only after they are
        # gone, but a crash can come between the two).
        await checkpoint(self.engine)
        async with self.engine.connect() as conn:
            self._set_origins(await conn.run_sync(storage.all_origins))
            await conn.run_sync(self.ledger.load)
        if isinstance(self.broker, RedisBroker):
            self.broker.on_remote = self.remote_event
            self.broker.on_resync = self.resync
            await self.broker.start()
        self.writer.start()

    async def stop(self) -> None:
        if isinstance(self.broker, RedisBroker):
            await self.broker.stop()
        await self.writer.stop()
        log.info("writer: %d ops in %d batches", self.writer.ops, self.writer.batches)

    # -- several relay processes (server.fanout) ---------------------------------------

    def _notify(self, event: Event) -> None:
        """Tell the other relay processes (nothing without a broker between them)."""
        if isinstance(self.broker, RedisBroker):
            self.broker.notify(event)

    async def listening(self, channel: bytes) -> None:
        """Return once other relay processes' message notifications for ``channel`` reach
        this one (at once without a broker between them; see server.fanout)."""
        if isinstance(self.broker, RedisBroker):
            await self.broker.listening(channel)

    def remote_event(self, event: Event) -> None:
        """What another relay process did that this one keeps state about."""
        kind = event.get("type")
        if kind == "resync":
            self.resync()
            return
        if kind == "origins":
            task = asyncio.get_running_loop().create_task(self._reload_origins())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            return
        cid_text = event.get("conversation_id")
        if not isinstance(cid_text, str):
            return
        try:
            cid = decode_b64u(cid_text, "conversation_id")
        except ApiError:
            return
        if kind == "confirmed":
            self.unconfirmed.discard(cid)
        elif kind == "closed":
            self.closed.add(cid)
            self.ledger.forget(cid)
            self.unconfirmed.discard(cid)
            self._forget_conversation(cid)

    async def _reload_origins(self) -> None:
        async with self.engine.connect() as conn:
            self._set_origins(await conn.run_sync(storage.all_origins))

    def resync(self) -> None:
        """Close every WebSocket of this process with 1012: pushes may have been lost
        between processes (Redis was away); each client reconnects and fetches."""
        if isinstance(self.broker, RedisBroker):
            for subscriber in self.broker.subscribers():
                restart = getattr(subscriber, "restart", None)
                if restart is not None:
                    restart()

    async def refresh_quotas(self) -> None:
        """Read the waiting totals again from the shared database (server.quota)."""
        async with self.engine.connect() as conn:
            await conn.run_sync(self.ledger.load)

    def _set_origins(self, origins: dict[bytes, set[str]]) -> None:
        self.origins = origins
        self.all_origins = frozenset(o for s in origins.values() for o in s)

    async def write(self, op: Any) -> Any:
        try:
            return await self.writer.submit(op)
        except WriterStopped:
            raise ApiError("unavailable", "The relay is shutting down; try again.") from None

    # -- authentication -------------------------------------------------------------

    async def principal(self, token: str | None) -> Principal:
        """Resolve a session token or capability token; refuse anything else."""
        if not token or len(token) > 100 or not token.isascii():
            raise ApiError("bad_token", "A valid bearer token is required.")
        digest = token_hash(token)
        now = self.now()
        session = self._sessions.get(digest)
        if session is None:
            known = self._members.get(digest)
            if known is not None:
                if self.unconfirmed and known.slot == PARTICIPANT_SLOT:
                    await self.confirm(known.conversation_id)  # type: ignore[arg-type]
                return known
            async with self.engine.connect() as conn:
                found = await conn.run_sync(storage.lookup_session, digest)
                member = None
                if found is None:
                    member = await conn.run_sync(storage.lookup_member, digest)
                    if member is None:
                        raise ApiError("bad_token", "The token is not valid.")
            if found is None:
                assert member is not None
                cid, slot, unconfirmed = member
                if unconfirmed and slot == PARTICIPANT_SLOT:
                    self.unconfirmed.add(cid)
                    await self.confirm(cid)
                    # the process that opened it stops counting it unconfirmed
                    self._notify({"type": "confirmed", "conversation_id": b64u_encode(cid)})
                return self._remember_member(digest, (cid, slot))
            session = found
            self._sessions[digest] = session
        if session[1] <= now:
            self._sessions.pop(digest, None)
            raise ApiError("bad_token", "The session expired; sign a new challenge.")
        return Principal(program_id=session[0])

    async def confirm(self, conversation_id: bytes) -> None:
        """The participant came back with its token (socket, send or fetch): the
        conversation is real, waiting in the queue, kept past ``confirm_by``, and its
        init goes to the program only now (a script's junk init never reaches the
        program's staff; the sweeper drops it)."""
        if conversation_id not in self.unconfirmed:
            return
        self.unconfirmed.discard(conversation_id)

        def op(conn: Any) -> tuple[bytes, list[tuple[bytes, bytes]]] | None:
            return storage.confirm(conn, conversation_id)

        found = await self.write(op)
        if found is None:
            return
        program_id, waiting = found
        channel = program_channel(program_id)
        cid = b64u_encode(conversation_id)
        self.broker.publish(channel, {"type": "conversation", "conversation_id": cid})
        for message_id, envelope in waiting:
            self.broker.publish(channel, message_event(message_id, cid, envelope))

    def _remember_member(self, digest: bytes, member: tuple[bytes, int]) -> Principal:
        """Cache a member token's principal (forgotten when its conversation is)."""
        cid, slot = member
        who = Principal(conversation_id=cid, slot=slot, conversation_key=self.closed.key(cid))
        self._members[digest] = who
        self._member_hashes.setdefault(cid, set()).add(digest)
        return who

    def _forget_conversation(self, conversation_id: bytes) -> None:
        for digest in self._member_hashes.pop(conversation_id, set()):
            self._members.pop(digest, None)

    async def program_principal(self, token: str | None, program_id: bytes) -> Principal:
        who = await self.principal(token)
        if who.program_id is None or not hmac.compare_digest(who.program_id, program_id):
            raise ApiError("bad_token", "The token is not a session of this program.")
        return who

    # -- programs ---------------------------------------------------------------------

    async def enroll(self, body: dict[str, Any]) -> bytes:
        token = field_str(body, "enrollment_token", max_len=100)
        self.limits.hit("enroll", token_hash(token), self.settings.limit_enrollments_per_token)
        identity_key = field_bytes(body, "identity_key", 32)
        signature = field_bytes(body, "signature", 64)
        origins = parse_origins(body.get("origins", []), self.settings.max_origins)
        program_id = verify.enrollment(identity_key, token, signature)
        digest, now = token_hash(token), self.now()

        def op(conn: Any) -> None:
            storage.enroll(conn, digest, program_id, identity_key, origins, now)

        await self.write(op)
        if origins:
            self._set_origins({**self.origins, program_id: set(origins)})
            self._notify({"type": "origins"})
        return program_id

    async def program_row(self, program_id: bytes) -> Any:
        async with self.engine.connect() as conn:
            return await conn.run_sync(storage.require_program, program_id)

    async def challenge(self, program_id: bytes) -> bytes:
        self.limits.hit("challenge", program_id, self.settings.limit_challenges_per_program)
        await self.program_row(program_id)
        challenge = self.challenges.issue(program_id)
        if isinstance(self.broker, RedisBroker):  # the session may be asked of another
            await self._ticket(
                self.broker.put_ticket(
                    "challenge", program_id + challenge, self.settings.challenge_ttl_seconds
                )
            )
        return challenge

    async def _ticket(self, call: Any) -> Any:
        try:
            return await call
        except Exception as exc:
            log.error("redis ticket failed: %s", type(exc).__name__)
            raise ApiError("unavailable", "The relay cannot reach Redis; try again.") from None

    async def session(self, program_id: bytes, body: dict[str, Any]) -> str:
        challenge = field_bytes(body, "challenge", 32)
        signature = field_bytes(body, "signature", 64)
        row = await self.program_row(program_id)
        if isinstance(self.broker, RedisBroker):
            # issued here or by another process: redeemed once, by whichever asks first
            with contextlib.suppress(ApiError):
                self.challenges.redeem(program_id, challenge)
            taken = await self._ticket(self.broker.take_ticket("challenge", program_id + challenge))
            if not taken:
                raise ApiError("bad_challenge", "The challenge is unknown, used or expired.")
        else:
            self.challenges.redeem(program_id, challenge)
        verify.relay_auth(
            row.identity_key, program_id, challenge, self.settings.public_origin, signature
        )
        token = new_token()
        digest = token_hash(token)
        expires = minute_ceiling(self.now() + self.settings.session_ttl_seconds)

        def op(conn: Any) -> None:
            storage.create_session(conn, digest, program_id, expires)

        await self.write(op)
        self._sessions[digest] = (program_id, expires)
        return token

    async def set_origins(self, program_id: bytes, body: dict[str, Any]) -> None:
        origins = parse_origins(body.get("origins"), self.settings.max_origins)

        def op(conn: Any) -> None:
            storage.set_origins(conn, program_id, origins)

        await self.write(op)
        self._set_origins({**self.origins, program_id: set(origins)})
        self._notify({"type": "origins"})

    async def publish_signed(self, program_id: bytes, what: str, body: dict[str, Any]) -> None:
        """Store the signed prekey, profile or status after checking its signature."""
        row = await self.program_row(program_id)
        limit = {
            "signed_prekey": 44,
            "profile": self.settings.max_profile_size,
            "status": self.settings.max_status_size,
        }[what]
        signed = signed_object(body, what.replace("_", " "), max_body=limit)
        now = self.now()
        if what == "signed_prekey":
            verify.prekey(row.identity_key, program_id, signed, one_time=False, now=now)
        elif what == "profile":
            verify.profile(row.identity_key, program_id, signed)
        else:
            verify.status(row.identity_key, program_id, signed, now)
        values = {f"{what}_body": signed.body, f"{what}_signature": signed.signature}

        def op(conn: Any) -> None:
            storage.set_program_fields(conn, program_id, **values)

        await self.write(op)

    async def set_generation(self, program_id: bytes, body: dict[str, Any]) -> None:
        """Keep the program node's newest store generation: bytes the relay cannot read,
        signed by the program (so the relay cannot forge a newer one). The node checks
        it at sign-in against rollback of its store; the relay can only withhold it or
        hand back an older one, and the node's local witness still holds then."""
        self.limits.hit("generation", program_id, self.settings.limit_generations_per_program)
        row = await self.program_row(program_id)
        signed = signed_object(body, "generation", max_body=GENERATION_SIZE)
        verify.generation(row.identity_key, program_id, signed, GENERATION_SIZE)

        def op(conn: Any) -> None:
            storage.set_generation(conn, program_id, signed.body, signed.signature)

        await self.write(op)

    async def get_generation(self, program_id: bytes) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            found = await conn.run_sync(storage.get_generation, program_id)
        if found is None:
            return {"generation": None}
        return {"generation": {"body": b64u_encode(found[0]), "signature": b64u_encode(found[1])}}

    async def add_one_time_prekeys(self, program_id: bytes, body: dict[str, Any]) -> int:
        row = await self.program_row(program_id)
        items = field_list(body, "prekeys", max_items=self.settings.max_one_time_prekeys_per_upload)
        now = self.now()
        rows = []
        for item in items:
            signed = signed_object(item, "one-time prekey", max_body=44)
            parsed = verify.prekey(row.identity_key, program_id, signed, one_time=True, now=now)
            rows.append(
                {
                    "prekey_id": parsed.prekey_id,
                    "body": signed.body,
                    "signature": signed.signature,
                    "expires_at": hour_ceiling(parsed.expires_at),
                }
            )
        limit = self.settings.max_one_time_prekeys_stored

        def op(conn: Any) -> int:
            return storage.add_one_time_prekeys(conn, program_id, rows, limit)

        return int(await self.write(op))

    async def count_one_time_prekeys(self, program_id: bytes) -> int:
        async with self.engine.connect() as conn:
            return await conn.run_sync(storage.count_one_time_prekeys, program_id)

    def _public(self, row: Any) -> dict[str, Any]:
        def signed(body: bytes | None, sig: bytes | None) -> dict[str, str] | None:
            if body is None or sig is None:
                return None
            return {"body": b64u_encode(body), "signature": b64u_encode(sig)}

        status = signed(row.status_body, row.status_signature)
        if row.status_body is not None and not verify.status_is_current(
            row.status_body, self.now()
        ):
            status = None
        return {
            "program_id": b64u_encode(row.program_id),
            "identity_key": b64u_encode(row.identity_key),
            "profile": signed(row.profile_body, row.profile_signature),
            "status": status,
            "signed_prekey": signed(row.signed_prekey_body, row.signed_prekey_signature),
        }

    async def program_info(self, program_id: bytes) -> dict[str, Any]:
        info = self._public(await self.program_row(program_id))
        del info["signed_prekey"]
        return info

    def hit_source(self, what: bytes, source: bytes, limit: int) -> None:
        """Count one ``what`` from ``source`` (a keyed hash, server.sources)."""
        self.limits.hit_key(what + source, limit)

    async def admit_anonymous(
        self, what: str, program_id: bytes, allowance: int, proof: str | None
    ) -> None:
        """A bundle fetch or a conversation opened for ``program_id``: free while the
        program is not under pressure (counted toward its ``allowance``), else only with
        a proof of work (server.pow), which the allowance does not count."""
        if proof is not None:
            if isinstance(self.broker, RedisBroker):
                self.puzzles.redeem(program_id, proof, shared=True)
                puzzle = decode_b64u(proof.partition(".")[0], "Quietline-Proof")
                if not await self._ticket(self.broker.take_ticket("puzzle", program_id + puzzle)):
                    raise ApiError("bad_proof", "The puzzle is unknown or was already used.")
            else:
                self.puzzles.redeem(program_id, proof)
            self.metrics.proofs_accepted += 1
            return
        if self.pressure.difficulty(program_id, allowance):
            self.pressure.refused(program_id)
            raise ApiError(
                "proof_required",
                "This program is busy: solve a puzzle (POST .../puzzle) and send its proof.",
            )
        self.limits.hit(what, program_id, allowance)
        self.pressure.took_free(program_id)

    async def puzzle(self, program_id: bytes) -> dict[str, object]:
        await self.program_row(program_id)
        s = self.settings
        difficulty = max(
            s.pow_difficulty,
            self.pressure.difficulty(program_id, s.limit_bundles_per_program),
            self.pressure.difficulty(program_id, s.limit_conversations_per_program),
        )
        answer = self.puzzles.answer(program_id, difficulty)
        if isinstance(self.broker, RedisBroker):
            puzzle = decode_b64u(str(answer["puzzle"]), "puzzle")
            await self._ticket(
                self.broker.put_ticket("puzzle", program_id + puzzle, s.pow_puzzle_ttl_seconds)
            )
        self.metrics.puzzles_issued += 1
        return answer

    async def bundle(
        self, program_id: bytes, source: bytes = b"", proof: str | None = None
    ) -> dict[str, Any]:
        self.hit_source(b"bundle", source, self.settings.limit_bundles_per_source)
        allowance = self.settings.limit_bundles_per_program
        await self.admit_anonymous("bundle", program_id, allowance, proof)
        row = await self.program_row(program_id)
        if row.signed_prekey_body is None or row.profile_body is None:
            raise ApiError("not_found", "The program has not published its prekey and profile.")
        info = self._public(row)
        now = self.now()

        def op(conn: Any) -> tuple[bytes, bytes] | None:
            while True:
                taken = storage.take_one_time_prekey(conn, program_id, now)
                if taken is None:
                    return None
                body, signature, _ = taken
                if int.from_bytes(body[36:44], "big") > now:
                    return body, signature

        one_time = await self.write(op)
        if one_time is not None and self.pressure.handed_prekey(program_id):
            # The pool is being drained: the program node replenishes early.
            self.broker.publish(program_channel(program_id), {"type": "prekeys_draining"})
        info["one_time_prekey"] = (
            None
            if one_time is None
            else {"body": b64u_encode(one_time[0]), "signature": b64u_encode(one_time[1])}
        )
        return info

    async def queue(self, program_id: bytes) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            waiting, active = await conn.run_sync(storage.queue, program_id)
        return {
            "waiting": [b64u_encode(c) for c in waiting],
            "active": [b64u_encode(c) for c in active],
            "waiting_count": len(waiting),
            "active_count": len(active),
        }

    # -- conversations ----------------------------------------------------------------

    def _refuse_closed(self, conversation_id: bytes) -> None:
        if conversation_id in self.closed:
            raise ApiError("closed_conversation", "This conversation was closed.")

    async def create_conversation(
        self, body: dict[str, Any], source: bytes = b"", proof: str | None = None
    ) -> tuple[bytes, str]:
        program_id = path_id(body.get("program_id"), "program_id")
        env = parse_envelope(body.get("envelope"), self.settings.max_envelope_size)
        if (
            env.kind != KIND_INIT
            or env.sender_slot != PARTICIPANT_SLOT
            or env.recipient_slot != PROGRAM_SLOT
        ):
            raise ApiError(
                "wrong_slot", "The first envelope must be an init from slot 0 to slot 1."
            )
        self._refuse_closed(env.conversation_id)
        self.hit_source(b"create", source, self.settings.limit_conversations_per_source)
        await self.admit_anonymous(
            "create", program_id, self.settings.limit_conversations_per_program, proof
        )
        self.ledger.check(program_id, env.conversation_id, 1, len(env.raw))
        token = new_token()
        digest, now = token_hash(token), self.now()
        cid = env.conversation_id

        confirm_by = minute_ceiling(now + self.settings.unconfirmed_conversation_seconds)

        def op(conn: Any) -> bytes:
            return storage.create_conversation(
                conn, cid, program_id, digest, env.raw, now, confirm_by
            )

        message_id = await self.write(op)
        self.ledger.sent(program_id, cid, [message_id], [PROGRAM_SLOT], [(PROGRAM_SLOT, env.raw)])
        self._remember_member(digest, (cid, PARTICIPANT_SLOT))
        self.unconfirmed.add(cid)  # pushed to the program once confirmed (confirm)
        self.metrics.conversations_opened += 1
        self.metrics.messages_stored += 1
        return cid, token

    async def add_member(self, who: Principal, conversation_id: bytes, body: dict[str, Any]) -> str:
        slot = body.get("slot")
        if not isinstance(slot, int) or isinstance(slot, bool) or not 2 <= slot <= 7:
            raise ApiError("wrong_slot", "Field 'slot' must be an invited slot, 2 to 7.")
        self._refuse_closed(conversation_id)
        token = new_token()
        digest = token_hash(token)

        def op(conn: Any) -> None:
            storage.add_member(conn, who, conversation_id, slot, digest)

        await self.write(op)
        self._remember_member(digest, (conversation_id, slot))
        return token

    def parse_envelopes(
        self, who: Principal, conversation_id: bytes, body: dict[str, Any]
    ) -> tuple[list[tuple[int, bytes]], list[str]]:
        """The (recipient slot, bytes) of each of ``body["envelopes"]``, and each one's
        base64url text."""
        values = field_list(
            body, "envelopes", max_items=self.settings.max_recipients, code="too_many_recipients"
        )
        out: list[tuple[int, bytes]] = []
        texts: list[str] = []
        for value in values:
            env = parse_envelope(value, self.settings.max_envelope_size)
            if env.conversation_id != conversation_id:
                raise ApiError("malformed_envelope", "An envelope names another conversation.")
            if env.sender_slot != who.slot:
                raise ApiError("wrong_slot", "An envelope's sender slot is not the caller's.")
            if env.kind == KIND_INIT and (
                env.sender_slot != PARTICIPANT_SLOT or env.recipient_slot < FIRST_INVITED_SLOT
            ):
                # An init to the program opens a conversation (create_conversation) and
                # nothing else: in a send it would make the node try its prekeys again.
                raise ApiError(
                    "wrong_kind",
                    "An init envelope only goes from the participant to an invited slot.",
                )
            out.append((env.recipient_slot, env.raw))
            texts.append(env.text)
        if len(out) > 1 and len({slot for slot, _ in out}) != len(out):
            raise ApiError("wrong_slot", "Two envelopes are addressed to the same slot.")
        return out, texts

    def prepare_send(
        self, who: Principal, conversation_id: bytes, body: dict[str, Any], source: bytes = b""
    ) -> messages.SendOp:
        """Check a send without waiting on anything; raises ApiError on a refusal."""
        conversation_key = (
            who.conversation_key
            if who.conversation_key and who.conversation_id == conversation_id
            else self.closed.key(conversation_id)
        )
        if self.closed.has_key(conversation_key):
            raise ApiError("closed_conversation", "This conversation was closed.")
        if not who.is_program and who.conversation_id != conversation_id:
            raise ApiError("bad_token", "The token is not valid for this conversation.")
        envelopes, texts = self.parse_envelopes(who, conversation_id, body)
        # The send limit counts under the same keyed hash (one hash per send for both).
        self.limits.hit_key(conversation_key, self.settings.limit_sends_per_conversation)
        if source and not who.is_program:
            self.hit_source(b"send", source, self.settings.limit_sends_per_source)
        self.ledger.check(
            who.program_id, conversation_id, len(envelopes), sum(len(raw) for _, raw in envelopes)
        )
        fingerprint = send_fingerprint(
            conversation_id, who.slot, [raw for _, raw in envelopes], who.program_id or b""
        )
        op = messages.SendOp(
            who,
            conversation_id,
            envelopes,
            self.now(),
            texts,
            self.recent_sends.key_of(fingerprint),
        )
        if self.shared_sends is not None:
            op.shared_key = self.shared_sends.key(fingerprint)
        return op

    def resent(self, op: messages.SendOp) -> list[str] | None:
        """The message ids of the same send if it was committed a moment ago (a client
        sending again because the answer was lost): it is then not stored again."""
        return self.recent_sends.get(op.resend_key)

    async def resent_anywhere(self, op: messages.SendOp) -> list[str] | None:
        """:meth:`resent`, then, with Redis between relay processes, whether another
        process (or this one) committed the same send (server/shared_sends.py)."""
        ids = self.recent_sends.get(op.resend_key)
        if ids is None and self.shared_sends is not None:
            ids = await self.shared_sends.recall(op.shared_key)
        return ids

    def deliver(self, op: messages.SendOp, sent: messages.Sent) -> list[str]:
        """After the commit: push each envelope to its recipient, remember the send (see
        :meth:`resent`); returns the ids."""
        cid = b64u_encode(op.conversation_id)
        ids = []
        for message_id, (slot, _raw), body in zip(
            sent.message_ids, op.envelopes, op.texts, strict=True
        ):
            channel = (
                program_channel(sent.program_id)
                if slot == PROGRAM_SLOT
                else member_channel(op.conversation_id, slot)
            )
            event = message_event(message_id, cid, body)
            ids.append(event["id"])
            self.broker.publish(channel, event)
        self.recent_sends.remember(op.resend_key, ids)
        if self.shared_sends is not None:
            op.shared = self.shared_sends.remember(op.shared_key, ids)
        self.metrics.messages_stored += len(ids)
        self.ledger.sent(
            sent.program_id, op.conversation_id, sent.message_ids, sent.recipients, op.envelopes
        )
        return ids

    async def send(
        self, who: Principal, conversation_id: bytes, body: dict[str, Any], source: bytes = b""
    ) -> list[str]:
        op = self.prepare_send(who, conversation_id, body, source)
        ids = await self.resent_anywhere(op)
        if ids is not None:
            return ids
        ids = self.deliver(op, await self.write(op))
        if op.shared is not None:
            await op.shared  # answered once every relay would know it (shared_sends)
        return ids

    def prepare_ack(self, who: Principal, body: dict[str, Any], name: str) -> messages.AckOp:
        """Ids to ack from ``body[name]`` (``message_ids`` over HTTP, ``ids`` in a frame)."""
        values = field_list(body, name, max_items=self.settings.max_ack_ids)
        ids = []
        for value in values:
            raw = decode_b64u(value, name)
            if len(raw) != 16:
                raise ApiError("malformed_field", "A message id must be 16 bytes.")
            ids.append(raw)
        return messages.AckOp(who, ids)

    async def ack(self, who: Principal, body: dict[str, Any]) -> int:
        op = self.prepare_ack(who, body, "message_ids")
        count = int(await self.write(op))
        self.acked(op, count)
        return count

    def acked(self, op: messages.AckOp, count: int) -> None:
        """After an ack committed (deleting ``count`` rows): they no longer count toward
        the quotas."""
        self.ledger.acked(op.who, op.message_ids)
        self.metrics.messages_delivered += count

    async def pending(self, who: Principal, after: int = 0) -> tuple[list[Event], int]:
        """A page of the caller's undelivered messages, and the cursor for the next page."""
        async with self.engine.connect() as conn:
            rows = await conn.run_sync(
                messages.pending, who, self.settings.max_fetch_messages, after
            )
        events = [message_event(r.message_id, r.conversation_id, r.envelope) for r in rows]
        return events, (rows[-1].seq if rows else after)

    async def close(self, who: Principal, conversation_id: bytes) -> None:
        self._refuse_closed(conversation_id)
        if not who.is_program and who.conversation_id != conversation_id:
            raise ApiError("bad_token", "The token is not valid for this conversation.")

        def op(conn: Any) -> storage.Closed:
            return storage.close(conn, who, conversation_id)

        closed = await self.write(op)
        await self.forget_on_disk()
        self.metrics.conversations_closed += 1
        self.announce_closed([closed])

    async def forget_on_disk(self) -> None:
        """Return once no file of the database holds what the last commits deleted: on
        SQLite, once a TRUNCATE checkpoint that started after them emptied the WAL
        (``secure_delete`` already zeroed the rows in the pages it copies back). Closes
        that come together share one. On a database server this is the server's
        business (its own WAL and vacuum)."""
        if self.vacuum is not None:
            await self.vacuum.run()
            return
        checkpointer = self.writer.checkpointer
        if checkpointer is None:
            return
        try:
            emptied = await asyncio.wait_for(checkpointer.truncate(), TRUNCATE_WAIT)
        except TimeoutError:
            emptied = False
        if not emptied:
            log.warning("the WAL could not be emptied after a close; the sweeper will")

    def announce_closed(self, closed: Sequence[storage.Closed]) -> None:
        """Forget the conversations' tokens and tell every side (the closer gets it too)."""
        for c in closed:
            self.metrics.messages_deleted_closed += c.messages
            self.closed.add(c.conversation_id)
            self.ledger.forget(c.conversation_id)
            self.unconfirmed.discard(c.conversation_id)
            self._forget_conversation(c.conversation_id)
            event = {"type": "closed", "conversation_id": b64u_encode(c.conversation_id)}
            self.broker.publish(program_channel(c.program_id), event)
            for slot in c.member_slots:
                self.broker.publish(member_channel(c.conversation_id, slot), event)

    async def sweep(self) -> int:
        s = self.settings
        ttls = storage.Ttls(
            message=s.message_ttl_hours * 3600,
            idle=s.idle_conversation_ttl_hours * 3600,
            waiting=s.waiting_conversation_ttl_hours * 3600,
            enrollment=s.enrollment_token_ttl_hours * 3600,
        )
        now = self.now()

        def op(conn: Any) -> tuple[list[storage.Closed], int]:
            closed, expired = storage.sweep(conn, now, ttls)  # also the unconfirmed past confirm_by
            self.ledger.load(conn)  # also drops the rows past their TTL
            return closed, expired

        closed, expired = await self.write(op)
        self.metrics.messages_deleted_expired += expired
        self.metrics.conversations_swept += len(closed)
        self.announce_closed(closed)
        return len(closed)


def dumps(obj: Any) -> str:
    """Compact JSON. A ``message`` push is written directly: its three values are
    base64url text (letters, digits, ``-`` and ``_``), which JSON never escapes."""
    if obj.get("type") == "message" and len(obj) == 4:
        return (
            f'{{"type":"message","id":"{obj["id"]}",'
            f'"conversation_id":"{obj["conversation_id"]}","envelope":"{obj["envelope"]}"}}'
        )
    return json.dumps(obj, separators=(",", ":"))
