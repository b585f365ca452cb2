"""Payload types: canonical encoding, strict decoding, limits."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee.encoding import b64u_encode
from e2ee.errors import LocalProtocolError, MalformedInput, OversizedInput
from e2ee.identity import SignedObject
from e2ee.payload import (
    MAX_ANSWERS,
    MAX_LABEL_SIZE,
    MAX_PLAINTEXT_SIZE,
    MAX_TIMESTAMP_MS,
    NOTICE_KINDS,
    PAYLOAD_TYPES,
    Answers,
    Close,
    CodeWordAnswer,
    CodeWordRequest,
    Consent,
    Duress,
    Invite,
    Notice,
    Payload,
    System,
    Text,
    decode_payload,
    encode_payload,
)

SIGNED = SignedObject(body=b"\x01" * 44, signature=b"\x02" * 64)
TS = 1_764_000_000_000

EXAMPLES: list[Payload] = [
    Text(body="Hello — مرحبا 你好 नमस्ते 🙂\n", ts=TS),
    Notice(kind="rights", body="You choose what to share.", ts=TS),
    System(event="joined", ts=TS),
    CodeWordRequest(alias="blue", ts=TS),
    CodeWordAnswer(alias="blue", word="heron", ts=TS),
    Duress(ts=TS),
    Answers(answers={"age": "25-34", "county": ""}, ts=TS),
    Invite(
        slot=2, role="interpreter", identity_key=b"\x03" * 32, prekey=SIGNED, invite=SIGNED, ts=TS
    ),
    Consent(slot=2, accept=True, ts=TS),
    Close(reason="ended by worker", ts=0),
]


def test_every_type_has_an_example() -> None:
    assert {type(p).T for p in EXAMPLES} == set(PAYLOAD_TYPES)


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).T)
def test_round_trip(payload: Payload) -> None:
    data = encode_payload(payload)
    assert decode_payload(data) == payload
    obj = json.loads(data)
    assert obj["t"] == type(payload).T
    # canonical: sorted keys, no spaces, UTF-8 not escaped
    assert (
        data == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )


def test_exact_bytes() -> None:
    assert encode_payload(Text(body="hé", ts=5)) == '{"body":"hé","t":"text","ts":5}'.encode()
    invite = json.loads(encode_payload(EXAMPLES[7]))
    assert invite["identity_key"] == b64u_encode(b"\x03" * 32)
    assert invite["prekey"] == SIGNED.to_json()


def test_any_key_order_and_whitespace_decode() -> None:
    assert decode_payload(b' { "ts" : 5 , "t" : "duress" } ') == Duress(ts=5)


def test_code_word_hidden_in_repr() -> None:
    assert "heron" not in repr(EXAMPLES[4])


def test_answers_are_frozen_and_hashable() -> None:
    a = Answers(answers={"b": "1", "a": "2"}, ts=1)
    assert a == Answers(answers={"a": "2", "b": "1"}, ts=1)
    assert hash(a) == hash(Answers(answers={"a": "2", "b": "1"}, ts=1))
    with pytest.raises(TypeError):
        a.answers["c"] = "3"  # type: ignore[index]


def _mutated(payload: Payload, **changes: object) -> bytes:
    obj = json.loads(encode_payload(payload))
    obj.update(changes)
    return json.dumps(obj).encode()


BAD_DECODES = [
    b"",
    b"not json",
    b"\xff\xfe",
    b"[]",
    b'"text"',
    b"{}",
    b'{"t":"nope","ts":1}',
    b'{"t":5,"ts":1}',
    b'{"t":"duress","ts":1,"ts":1}',  # duplicate key
    b'{"t":"duress","ts":1.0}',  # float
    b'{"t":"duress","ts":NaN}',
    b'{"t":"duress","ts":true}',
    b'{"t":"duress","ts":-1}',
    b'{"t":"duress","ts":9007199254740992}',
    b'{"t":"duress","ts":"1"}',
    b'{"t":"duress"}',  # missing key
    b'{"t":"duress","ts":1,"x":2}',  # extra key
    b'{"t":"text","body":"\\ud800","ts":1}',  # lone surrogate
    b'{"t":"text","body":null,"ts":1}',
    b"[" * 5000 + b"]" * 5000,  # deep nesting
    b'{"t":"duress","ts":' + b"9" * 5000 + b"}",  # too many digits
    _mutated(EXAMPLES[1], kind="weather"),
    _mutated(EXAMPLES[2], event=""),
    _mutated(EXAMPLES[2], event="e" * (MAX_LABEL_SIZE + 1)),
    _mutated(EXAMPLES[2], event="é" * (MAX_LABEL_SIZE // 2 + 1)),  # bytes, not characters
    _mutated(EXAMPLES[4], word="w" * 257),
    _mutated(EXAMPLES[6], answers=["a"]),
    _mutated(EXAMPLES[6], answers={"a": 1}),
    _mutated(EXAMPLES[6], answers={"": "x"}),
    _mutated(EXAMPLES[6], answers={str(i): "x" for i in range(MAX_ANSWERS + 1)}),
    _mutated(EXAMPLES[7], slot=1),
    _mutated(EXAMPLES[7], slot=8),
    _mutated(EXAMPLES[7], slot=True),
    _mutated(EXAMPLES[7], identity_key=b64u_encode(b"\x03" * 31)),
    _mutated(EXAMPLES[7], identity_key=5),
    _mutated(EXAMPLES[7], prekey={"body": "AA"}),
    _mutated(EXAMPLES[7], invite="x"),
    _mutated(EXAMPLES[8], accept=1),
    _mutated(EXAMPLES[9], reason="r" * 1001),
]


@pytest.mark.parametrize("data", BAD_DECODES)
def test_decode_refuses(data: bytes) -> None:
    with pytest.raises(MalformedInput):
        decode_payload(data)


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(MalformedInput):
        decode_payload("{}")  # type: ignore[arg-type]


def test_size_limits() -> None:
    overhead = len(encode_payload(Text(body="", ts=TS)))
    largest = Text(body="x" * (MAX_PLAINTEXT_SIZE - overhead), ts=TS)
    assert len(encode_payload(largest)) == MAX_PLAINTEXT_SIZE
    assert decode_payload(encode_payload(largest)) == largest
    with pytest.raises(LocalProtocolError):
        encode_payload(Text(body="x" * (MAX_PLAINTEXT_SIZE - overhead + 1), ts=TS))
    with pytest.raises(OversizedInput):
        decode_payload(b" " * (MAX_PLAINTEXT_SIZE + 1))


@pytest.mark.parametrize(
    "make",
    [
        lambda: Text(body=5, ts=1),  # type: ignore[arg-type]
        lambda: Text(body="x", ts=MAX_TIMESTAMP_MS + 1),
        lambda: Text(body="\udc00", ts=1),
        lambda: Notice(kind="x", body="b", ts=1),
        lambda: Answers(answers=[("a", "b")], ts=1),  # type: ignore[arg-type]
        lambda: Invite(slot=2, role="r", identity_key=b"", prekey=SIGNED, invite=SIGNED, ts=1),
        lambda: Invite(slot=2, role="r", identity_key=b"\x00" * 32, prekey={}, invite=SIGNED, ts=1),  # type: ignore[arg-type]
        lambda: Consent(slot=2, accept="yes", ts=1),  # type: ignore[arg-type]
        lambda: encode_payload("text"),  # type: ignore[arg-type]
    ],
)
def test_constructors_refuse(make: object) -> None:
    with pytest.raises(LocalProtocolError):
        make()  # type: ignore[operator]


def test_notice_kinds_are_the_specs() -> None:
    assert {
        "rights", "safety_check_in", "inactivity", "closing", "shift_change",
        "transfer", "code_word_request", "custom",
    } == NOTICE_KINDS  # fmt: skip


timestamps = st.integers(0, MAX_TIMESTAMP_MS)
texts = st.text(max_size=200)
labels = st.text(min_size=1, max_size=16)
payloads = st.one_of(
    st.builds(Text, body=texts, ts=timestamps),
    st.builds(Notice, kind=st.sampled_from(sorted(NOTICE_KINDS)), body=texts, ts=timestamps),
    st.builds(System, event=labels, ts=timestamps),
    st.builds(CodeWordRequest, alias=labels, ts=timestamps),
    st.builds(
        CodeWordAnswer,
        alias=labels,
        word=texts.filter(lambda w: len(w.encode()) <= 256),
        ts=timestamps,
    ),
    st.builds(Duress, ts=timestamps),
    st.builds(Answers, answers=st.dictionaries(labels, texts, max_size=5), ts=timestamps),
    st.builds(Consent, slot=st.integers(2, 7), accept=st.booleans(), ts=timestamps),
    st.builds(Close, reason=texts, ts=timestamps),
    st.builds(
        Invite,
        slot=st.integers(2, 7),
        role=labels,
        identity_key=st.binary(min_size=32, max_size=32),
        prekey=st.builds(
            SignedObject, body=st.binary(max_size=60), signature=st.binary(min_size=64, max_size=64)
        ),
        invite=st.builds(
            SignedObject, body=st.binary(max_size=60), signature=st.binary(min_size=64, max_size=64)
        ),
        ts=timestamps,
    ),
)


@settings(max_examples=300, deadline=None)
@given(payloads)
def test_property_round_trip(payload: Payload) -> None:
    assert decode_payload(encode_payload(payload)) == payload


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_decoder_on_arbitrary_bytes(data: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        decode_payload(data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(EXAMPLES),
    st.sampled_from(["t", "ts", "body", "answers", "slot", "extra"]),
    json_values,
)
def test_decoder_on_mutated_json(payload: Payload, key: str, value: object) -> None:
    obj = json.loads(encode_payload(payload))
    obj[key] = value
    try:
        data = json.dumps(obj).encode()
    except ValueError:
        return
    try:
        decoded = decode_payload(data)
    except MalformedInput:
        return
    assert decode_payload(encode_payload(decoded)) == decoded
