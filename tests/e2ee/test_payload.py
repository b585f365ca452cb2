"""Payload types: canonical encoding, strict decoding, limits."""

from __future__ import annotations

import contextlib
import json
from typing import Any

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
    MAX_QUEUE_POSITION,
    MAX_TIMESTAMP_MS,
    NOTICE_KINDS,
    PAYLOAD_TYPES,
    Answers,
    Close,
    CodeWordAnswer,
    CodeWordRequest,
    Consent,
    Delivered,
    Duress,
    Invite,
    Joined,
    Notice,
    Payload,
    Queue,
    System,
    Text,
    Typing,
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
    Queue(position=3, ts=TS),
    Joined(name="Sam", ts=TS),
    Typing(active=True, ts=TS),
    Delivered(count=2, ts=TS),
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
    _mutated(EXAMPLES[10], position=0),
    _mutated(EXAMPLES[10], position=True),
    _mutated(EXAMPLES[10], position=MAX_QUEUE_POSITION + 1),
    _mutated(EXAMPLES[11], name=""),
    _mutated(EXAMPLES[11], name="n" * (MAX_LABEL_SIZE + 1)),
    _mutated(EXAMPLES[12], active=1),
    _mutated(EXAMPLES[13], count=-1),
    _mutated(EXAMPLES[13], count=False),
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
question_ids = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)
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
    st.builds(Answers, answers=st.dictionaries(question_ids, texts, max_size=5), ts=timestamps),
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


# -- review fixes: wrong-typed values, reprs, constant-time equality, question ids -----------


@pytest.mark.parametrize(
    "text",
    [
        '{"t":"notice","kind":[],"body":"x","ts":1}',
        '{"t":"notice","kind":{},"body":"x","ts":1}',
        '{"t":"notice","kind":["rights"],"body":"x","ts":1}',
        '{"t":"notice","kind":1,"body":"x","ts":1}',
        '{"t":"notice","kind":null,"body":"x","ts":1}',
        '{"t":[],"ts":1}',
        '{"t":{},"ts":1}',
        '{"t":"answers","answers":{"a":[]},"ts":1}',
        '{"t":"answers","answers":{"a":{}},"ts":1}',
        '{"t":"invite","slot":2,"role":[],"identity_key":[],"prekey":[],"invite":{},"ts":1}',
        '{"t":"consent","slot":[],"accept":{},"ts":1}',
    ],
)
def test_wrong_typed_values_are_malformed(text: str) -> None:
    with pytest.raises(MalformedInput):
        decode_payload(text.encode())


def test_notice_kind_must_be_a_string() -> None:
    with pytest.raises(LocalProtocolError):
        Notice(kind=[], body="x", ts=1)  # type: ignore[arg-type]


# Arbitrary JSON, nested, with every kind of scalar (big and negative integers, floats,
# long and non-ASCII strings) and containers whose keys are arbitrary strings.
any_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=70),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=70), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_decoder_with_arbitrary_values_per_key(data: st.DataObject) -> None:
    """Any JSON value under any key of any payload type: a payload or a typed error."""
    payload = data.draw(st.sampled_from(EXAMPLES))
    obj: dict[str, Any] = json.loads(encode_payload(payload))
    for key in data.draw(st.lists(st.sampled_from(sorted(obj)), min_size=1, max_size=3)):
        obj[key] = data.draw(any_json)
    try:
        text = json.dumps(obj, allow_nan=True)
    except ValueError:  # pragma: no cover - json.dumps writes every value drawn here
        return
    try:
        decoded = decode_payload(text.encode("utf-8", "surrogatepass"))
    except (MalformedInput, OversizedInput):
        return
    assert decode_payload(encode_payload(decoded)) == decoded


@pytest.mark.parametrize("payload", EXAMPLES, ids=lambda p: type(p).T)
def test_repr_shows_type_and_sizes_only(payload: Payload) -> None:
    text = repr(payload)
    assert text.startswith(type(payload).__name__ + "(")
    obj = json.loads(encode_payload(payload))
    secrets = [v for k, v in obj.items() if k != "t" and isinstance(v, str)]
    secrets += [str(v) for k, v in obj.items() if k == "ts" and v]
    for value in obj.get("answers", {}).items():
        secrets += list(value)
    for secret in secrets:
        if secret:
            assert secret not in text, secret
    assert "<" in text or isinstance(payload, Duress)


def test_repr_of_a_text_gives_its_size() -> None:
    assert repr(Text(body="I am scared", ts=TS)) == "Text(body=<11 chars>, ts=<hidden>)"
    assert repr(Answers(answers={"age": "25-34"}, ts=TS)) == (
        "Answers(answers=<1 items>, ts=<hidden>)"
    )


def test_code_word_answer_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import e2ee.payload

    calls: list[tuple[bytes, bytes]] = []
    real = e2ee.payload.constant_time_equal

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(e2ee.payload, "constant_time_equal", spy)
    a = CodeWordAnswer(alias="blue", word="heron", ts=1)
    assert a == CodeWordAnswer(alias="blue", word="heron", ts=1)
    assert a != CodeWordAnswer(alias="blue", word="heron!", ts=1)
    assert a != Text(body="heron", ts=1)
    assert len(calls) == 2 and calls[0][0] == encode_payload(a)
    with pytest.raises(TypeError):
        hash(a)


@pytest.mark.parametrize("key", ["", "a b", "é", "x" * 65, "age\n", "a/b", "a.b", "\u200b"])
def test_answers_keys_are_question_ids(key: str) -> None:
    with pytest.raises(LocalProtocolError):
        Answers(answers={key: "1"}, ts=1)
    text = json.dumps({"t": "answers", "answers": {key: "1"}, "ts": 1})
    with pytest.raises(MalformedInput):
        decode_payload(text.encode())


def test_answers_keys_at_the_limit() -> None:
    ok = Answers(answers={"x" * 64: "1", "A-z_0": "2"}, ts=1)
    assert decode_payload(encode_payload(ok)) == ok
