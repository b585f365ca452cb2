# ruff: noqa: E501  (the JavaScript run in the page is kept readable, not wrapped)
"""The widget's encodings, padding, JSON and payloads agree with the Python reference.

Each case runs through widget/protocol in Chromium and through e2ee in Python; the two
must accept the same inputs, produce the same bytes, and refuse the same inputs with the
same error class (MalformedInput / OversizedInput / LocalProtocolError).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from e2ee import encoding, padding, payload
from e2ee.errors import QuietlineError
from e2ee.profile import canonical_json

B64U_CASES = [
    "", "AA", "AAA", "AAAA", "_-_-", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy",
    "A", "AAAAA", "Zm9vYh", "Zm9vYmF", "Zm9vYg==", "Zm9v\n", " Zm9v", "Zm+v", "Zm/v",
    "Zm9vY", "AB", "AAB", "é", "AA==",
]  # fmt: skip


def _python_outcome(f: Any, *args: Any) -> Any:
    try:
        return ["ok", f(*args)]
    except QuietlineError as exc:
        return ["error", type(exc).__name__]


JS_OUTCOME = """
window.outcome = (f) => {
  try { const v = f(); return ["ok", v instanceof Uint8Array ? Q.hexEncode(v) : v]; }
  catch (e) { return ["error", e instanceof Q.QuietlineError ? e.name : "untyped " + e]; }
};
"""


@pytest.fixture
def page(protocol_page: Page) -> Page:
    protocol_page.evaluate("() => {" + JS_OUTCOME + "}")
    return protocol_page


def test_b64u_strict_like_python(page: Page) -> None:
    rnd = random.Random(5)
    blobs = [bytes(rnd.randrange(256) for _ in range(n)) for n in range(0, 40)]
    texts = B64U_CASES + [encoding.b64u_encode(b) for b in blobs]
    got = page.evaluate("(texts) => texts.map((t) => outcome(() => Q.b64uDecode(t)))", texts)
    expected = []
    for t in texts:
        out = _python_outcome(encoding.b64u_decode, t)
        expected.append(["ok", out[1].hex()] if out[0] == "ok" else out)
    assert got == expected
    encoded = page.evaluate(
        "(hexes) => hexes.map((x) => Q.b64uEncode(Q.hexDecode(x)))", [b.hex() for b in blobs]
    )
    assert encoded == [encoding.b64u_encode(b) for b in blobs]


def test_integers_like_python(page: Page) -> None:
    got = page.evaluate(
        """() => [
          outcome(() => Q.u32(0)), outcome(() => Q.u32(4294967295)), outcome(() => Q.u32(-1)),
          outcome(() => Q.u32(4294967296)), outcome(() => Q.u32(1.5)), outcome(() => Q.u64(2 ** 53 - 1)),
          outcome(() => Q.u64(18446744073709551615n)), outcome(() => Q.u8(256)),
          outcome(() => Q.readU32(Q.hexDecode("0102030405"))), outcome(() => Q.readU32(Q.hexDecode("01020304"))),
          outcome(() => Q.readU64(Q.hexDecode("0000000000000100"))),
        ]"""
    )
    assert got == [
        ["ok", "00000000"],
        ["ok", "ffffffff"],
        ["error", "LocalProtocolError"],
        ["error", "LocalProtocolError"],
        ["error", "LocalProtocolError"],
        ["ok", (2**53 - 1).to_bytes(8, "big").hex()],
        ["ok", "ffffffffffffffff"],
        ["error", "LocalProtocolError"],
        ["error", "MalformedInput"],
        ["ok", 0x01020304],
        ["ok", 256],
    ]


def test_padding_like_python(page: Page) -> None:
    rnd = random.Random(7)
    datas = [bytes(rnd.randrange(256) for _ in range(n)) for n in (0, 1, 254, 255, 256, 300, 511)]
    datas += [b"a\x00", b"\x80", b"\x00\x00"]
    got = page.evaluate(
        "(xs) => xs.map((x) => Q.hexEncode(Q.pad(Q.hexDecode(x))))", [d.hex() for d in datas]
    )
    assert got == [padding.pad(d).hex() for d in datas]
    bad = [
        b"",
        b"\x00" * 256,
        b"a" * 256,
        b"a" + b"\x80" + b"\x01" + b"\x00" * 253,
        b"\x80" + b"\x00" * 511,
    ]
    bad += [padding.pad(d) for d in datas]
    got = page.evaluate(
        "(xs) => xs.map((x) => outcome(() => Q.unpad(Q.hexDecode(x))))", [b.hex() for b in bad]
    )
    expected = []
    for b in bad:
        out = _python_outcome(padding.unpad, b)
        expected.append(["ok", out[1].hex()] if out[0] == "ok" else out)
    assert got == expected


CANONICAL_CASES: list[Any] = [
    {"b": 1, "a": [True, False, None], "c": {"z": "", "y": '\u0000\u001f"\\/\u007f'}},
    {"é": 1, "e": 2, "\U0001f642": 3, "\uffff": 4, "Z": 5},
    {"text": "مرحبا — 你好 — नमस्ते 🙂\u2028\u2029\t\n\r\b\f"},
    {"n": -0, "big": 2**53 - 1, "neg": -(2**53 - 1), "list": [[], {}, [{}]]},
]


def test_canonical_json_like_python(page: Page) -> None:
    got = page.evaluate(
        "(cases) => cases.map((c) => Q.hexEncode(Q.canonicalJson(c)))", CANONICAL_CASES
    )
    assert got == [canonical_json(c).hex() for c in CANONICAL_CASES]


PAYLOAD_TEXTS = [
    '{"body":"hi","t":"text","ts":1}',
    '{"t":"text","body":"hi","ts":1}',
    '{"body":"hi","t":"text","ts":1,"x":2}',
    '{"body":"hi","t":"text"}',
    '{"body":"hi","t":"text","ts":1.0}',
    '{"body":"hi","t":"text","ts":1e3}',
    '{"body":"hi","t":"text","ts":-1}',
    '{"body":"hi","t":"text","ts":9007199254740992}',
    '{"body":"hi","t":"text","ts":true}',
    '{"body":"a","body":"b","t":"text","ts":1}',
    '{"body":"\\ud800","t":"text","ts":1}',
    '{"kind":"rights","body":"x","t":"notice","ts":1}',
    '{"kind":"weather","body":"x","t":"notice","ts":1}',
    '{"event":"","t":"system","ts":1}',
    '{"event":"' + "e" * 65 + '","t":"system","ts":1}',
    '{"alias":"heron","word":"' + "w" * 257 + '","t":"code_word_answer","ts":1}',
    '{"answers":{"age":"25-34"},"t":"answers","ts":1}',
    '{"answers":["x"],"t":"answers","ts":1}',
    '{"answers":{"age range":"25-34"},"t":"answers","ts":1}',
    '{"answers":{"":"x"},"t":"answers","ts":1}',
    '{"answers":{"é":"x"},"t":"answers","ts":1}',
    '{"slot":2,"accept":true,"t":"consent","ts":1}',
    '{"slot":1,"accept":true,"t":"consent","ts":1}',
    '{"slot":2,"accept":1,"t":"consent","ts":1}',
    '{"t":"duress","ts":1}',
    '{"t":"launch","ts":1}',
    '[{"t":"duress","ts":1}]',
    '{"t":"duress","ts":1} x',
    '{"body":"tab\there","t":"text","ts":1}',
    '{"body":"raw\u0001 control","t":"text","ts":1}',
    '{"body":"bad \\x escape","t":"text","ts":1}',
    '{"body":"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\ud83d\\ude42","t":"text","ts":1}',
    '{"body":"unterminated,"t":"text","ts":1}',
    '{"body":"' + "a" * 15000 + '","t":"text","ts":1}',
    '{"reason":"done","t":"close","ts":1}',
    " " * 20000,
]


def test_payload_decoding_like_python(page: Page) -> None:
    got = page.evaluate(
        """(texts) => texts.map((t) => outcome(() => {
             const p = Q.decodePayload(new TextEncoder().encode(t));
             return Q.utf8Decode(Q.encodePayload(p));
           }))""",
        PAYLOAD_TEXTS,
    )
    expected = []
    for t in PAYLOAD_TEXTS:
        out = _python_outcome(payload.decode_payload, t.encode("utf-8", "surrogatepass"))
        expected.append(["ok", payload.encode_payload(out[1]).decode()] if out[0] == "ok" else out)
    assert got == expected


def test_envelope_parsing_like_python(page: Page) -> None:
    from e2ee import envelope as env

    vectors = json.loads(
        (Path(__file__).resolve().parents[1] / "vectors" / "protocol-v1.json").read_text()
    )
    init = bytes.fromhex(vectors["messages"][0]["envelope"])
    message = bytes.fromhex(vectors["messages"][1]["envelope"])
    cases = [init, message, b"", b"\x01", init[:-1], message[:-16], message + b"\x00" * 256]
    cases += [bytes([2]) + message[1:], message[:1] + bytes([3]) + message[2:]]
    cases += [message[:1] + bytes([1]) + message[2:], init[:1] + bytes([2]) + init[2:]]
    cases += [
        message[:18] + bytes([1, 1]) + message[20:],
        message[:18] + bytes([8, 0]) + message[20:],
    ]
    cases += [init[:20] + bytes([3]) + init[21:], b"\x01\x02" + b"\x00" * (64 * 1024)]
    cases += [b"\x01\x02" + b"\x00" * (60 + 256 * 255 + 16 - 2)]
    got = page.evaluate(
        """(xs) => xs.map((x) => outcome(() => {
             const e = Q.parseEnvelope(Q.hexDecode(x));
             return [e.kind, e.senderSlot, e.recipientSlot, e.header.pn, e.header.n,
                     Q.hexEncode(e.aad), Q.hexEncode(Q.envelopeToBytes(e))];
           }))""",
        [c.hex() for c in cases],
    )
    expected = []
    for c in cases:
        out = _python_outcome(env.Envelope.from_bytes, c)
        if out[0] == "ok":
            e = out[1]
            out = ["ok", [e.kind, e.sender_slot, e.recipient_slot, e.header.pn, e.header.n,
                          e.aad.hex(), e.to_bytes().hex()]]  # fmt: skip
        expected.append(out)
    assert got == expected
    assert ["error", "OversizedInput"] in got
    assert sum(1 for g in got if g[0] == "ok") >= 3
