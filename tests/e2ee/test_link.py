"""Two sessions over an in-memory link that drops, duplicates and reorders envelopes.

The link is deterministic (seeded). Properties checked for every seed:

- every envelope delivered for the first time decrypts to exactly what was sent;
- every further copy of a decrypted envelope is refused as a replay;
- every message the link dropped is reported as skipped by the receiver (the last
  message of each side is delivered reliably, so every gap becomes visible);
- every message reported as skipped was either dropped or is delivered later;
- a failed decryption never changes the receiver's serialised session.
"""

from __future__ import annotations

import random as stdlib_random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from e2ee_samples import make_profile
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee.encoding import b64u_encode
from e2ee.envelope import Envelope
from e2ee.errors import ReplayedMessage
from e2ee.identity import (
    IdentityKeyPair,
    PrekeyBody,
    sign_prekey,
    sign_profile,
    verify_bundle,
)
from e2ee.payload import Text
from e2ee.primitives import x25519_generate
from e2ee.ratchet import MessageId
from e2ee.session import Session, accept_conversation, start_conversation

NOW = 1_764_000_000
IDENTITY = IdentityKeyPair.from_seed(b"\x05" * 32)
PROFILE = make_profile()  # tests/support/e2ee_samples.py


@dataclass
class InMemoryLink:
    """One direction of a relay: holds envelopes and lets the test misbehave with them."""

    rng: stdlib_random.Random
    drop: float
    duplicate: float
    queue: list[bytes] = field(default_factory=list)
    dropped: list[bytes] = field(default_factory=list)

    def send(self, envelope: bytes, *, reliable: bool = False) -> None:
        if not reliable and self.rng.random() < self.drop:
            self.dropped.append(envelope)
            return
        self.queue.append(envelope)
        if not reliable and self.rng.random() < self.duplicate:
            self.queue.append(envelope)

    def take(self, *, reorder: bool) -> list[bytes]:
        """Everything in flight, shuffled when ``reorder``; the link is then empty."""
        out, self.queue = self.queue, []
        if reorder:
            self.rng.shuffle(out)
        return out


@dataclass
class Endpoint:
    session: Session
    random: Callable[[int], bytes]
    sent: dict[bytes, str] = field(default_factory=dict)
    received: set[bytes] = field(default_factory=set)
    reported_skipped: set[MessageId] = field(default_factory=set)
    replays: int = 0
    late: int = 0

    def deliver(self, envelope: bytes, peer: Endpoint) -> None:
        before = self.session.to_bytes()
        if envelope in self.received:
            with pytest.raises(ReplayedMessage):
                self.session.decrypt(envelope, random=self.random)
            assert self.session.to_bytes() == before
            self.replays += 1
            return
        if _message_id(envelope) in self.reported_skipped:
            self.late += 1  # reported missing earlier, arriving now
        self.session, payload, skipped = self.session.decrypt(envelope, random=self.random)
        assert payload == Text(body=peer.sent[envelope], ts=1)
        self.received.add(envelope)
        self.reported_skipped.update(skipped)


def _message_id(envelope: bytes) -> MessageId:
    header = Envelope.from_bytes(envelope).header
    return MessageId(header.dh, header.n)


def _open(seed: int) -> tuple[Endpoint, Endpoint, bytes]:
    rnd = stdlib_random.Random(seed).randbytes
    otk_secret, otk_public = x25519_generate(rnd)
    spk_secret, spk_public = x25519_generate(rnd)
    bundle_json = {
        "program_id": b64u_encode(IDENTITY.program_id),
        "identity_key": b64u_encode(IDENTITY.public_key),
        "signed_prekey": sign_prekey(
            IDENTITY, PrekeyBody(1, spk_public, NOW + 60), one_time=False
        ).to_json(),
        "one_time_prekey": sign_prekey(
            IDENTITY, PrekeyBody(2, otk_public, NOW + 60), one_time=True
        ).to_json(),
        "profile": sign_profile(IDENTITY, PROFILE).to_json(),
        "status": None,
    }
    bundle = verify_bundle(bundle_json, IDENTITY.public_key, now=NOW)
    participant_session, init = start_conversation(bundle, Text(body="init", ts=1), random=rnd)
    program_session, first = accept_conversation(
        init,
        lambda kind, prekey_id: {(2, 2): otk_secret, (1, 1): spk_secret}.get((kind, prekey_id)),
        program_id=IDENTITY.program_id,
        random=rnd,
    )
    assert first == Text(body="init", ts=1)
    participant = Endpoint(participant_session, rnd)
    program = Endpoint(program_session, rnd)
    program.received.add(init)
    return participant, program, init


@pytest.mark.parametrize("seed", range(12))
def test_conversation_over_a_misbehaving_link(seed: int) -> None:
    rng = stdlib_random.Random(1000 + seed)
    participant, program, _ = _open(seed)
    to_program = InMemoryLink(rng, drop=0.15, duplicate=0.15)
    to_participant = InMemoryLink(rng, drop=0.15, duplicate=0.15)
    links = {id(participant): (to_program, program), id(program): (to_participant, participant)}

    counter = 0
    for _round in range(40):
        for endpoint in (participant, program):
            for _ in range(rng.randrange(0, 4)):
                counter += 1
                text = f"m{counter}"
                endpoint.session, envelope = endpoint.session.encrypt(
                    Text(body=text, ts=1), random=endpoint.random
                )
                endpoint.sent[envelope] = text
                links[id(endpoint)][0].send(envelope)
        # deliver part of what is in flight, in a random order; keep the rest for later
        for link, receiver in ((to_program, program), (to_participant, participant)):
            in_flight = link.take(reorder=True)
            keep = rng.randrange(0, len(in_flight) + 1)
            link.queue = in_flight[:keep]
            for envelope in in_flight[keep:]:
                sender = participant if receiver is program else program
                receiver.deliver(envelope, sender)

    # drain, then one reliable last message each way so that every gap is reported
    for endpoint in (participant, program):
        endpoint.session, envelope = endpoint.session.encrypt(
            Text(body="last", ts=1), random=endpoint.random
        )
        endpoint.sent[envelope] = "last"
        links[id(endpoint)][0].send(envelope, reliable=True)
    for link, receiver in ((to_program, program), (to_participant, participant)):
        sender = participant if receiver is program else program
        for envelope in link.take(reorder=False):
            receiver.deliver(envelope, sender)

    for sender, receiver, link in (
        (participant, program, to_program),
        (program, participant, to_participant),
    ):
        dropped = {_message_id(e) for e in link.dropped if e not in receiver.received}
        late = {_message_id(e) for e in receiver.received}
        assert dropped <= receiver.reported_skipped
        assert receiver.reported_skipped <= dropped | late
        assert set(sender.sent) - set(link.dropped) <= receiver.received
    assert participant.replays + program.replays > 0
    assert participant.late + program.late > 0
    assert to_program.dropped and to_participant.dropped


def test_link_without_losses_delivers_everything_once() -> None:
    rng = stdlib_random.Random(7)
    participant, program, _ = _open(7)
    link = InMemoryLink(rng, drop=0.0, duplicate=0.5)
    for i in range(30):
        participant.session, envelope = participant.session.encrypt(
            Text(body=f"{i}", ts=1), random=participant.random
        )
        participant.sent[envelope] = f"{i}"
        link.send(envelope)
    for envelope in link.take(reorder=True):
        program.deliver(envelope, participant)
    assert program.received >= set(participant.sent)
    assert program.replays > 0
    assert program.session.ratchet.skipped == ()


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_any_schedule_delivers_every_message_once(data: st.DataObject) -> None:
    """Hypothesis picks who sends, what is delivered next, and when a session is saved
    and restored; without losses every message decrypts exactly once, in any order."""
    participant, program, _ = _open(data.draw(st.integers(0, 3)))
    in_flight: list[tuple[Endpoint, Endpoint, bytes]] = []
    for step in range(data.draw(st.integers(1, 40))):
        action = data.draw(st.sampled_from(["send_p", "send_w", "deliver", "restore"]))
        if action in ("send_p", "send_w"):
            sender, receiver = (
                (participant, program) if action == "send_p" else (program, participant)
            )
            sender.session, envelope = sender.session.encrypt(
                Text(body=f"{step}", ts=1), random=sender.random
            )
            sender.sent[envelope] = f"{step}"
            in_flight.append((sender, receiver, envelope))
        elif action == "deliver" and in_flight:
            sender, receiver, envelope = in_flight.pop(
                data.draw(st.integers(0, len(in_flight) - 1))
            )
            receiver.deliver(envelope, sender)
        elif action == "restore":
            endpoint = data.draw(st.sampled_from([participant, program]))
            endpoint.session = Session.from_bytes(endpoint.session.to_bytes())
    for sender, receiver, envelope in in_flight:
        receiver.deliver(envelope, sender)
    assert set(participant.sent) <= program.received
    assert set(program.sent) <= participant.received
    assert participant.session.ratchet.skipped == () and program.session.ratchet.skipped == ()
