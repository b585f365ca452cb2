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
from e2ee import profile as prof
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
    '{"body":"q \\" \\\\ \\\\\\" end\\\\","t":"text","ts":1}',
    '{"body":"q \\" \\\\" end","t":"text","ts":1}',
    '{"body":"a","bo\\u0064y":"b","t":"text","ts":1}',
    '{"body":"raw\nnewline","t":"text","ts":1}',
    '{"body":"\\udc00","t":"text","ts":1}',
    '{"body":"\\ud83d\\ude42","t":"text","ts":1}',
    '{"body":"x","t":"text","ts":1,"__proto__":1}',
    '{"answers":{"constructor":"a","toString":"b","__proto__":"c"},"t":"answers","ts":1}',
    '{"answers":{"a":"x","a":"y"},"t":"answers","ts":1}',
    '{"body":"x","t":"te\\"xt","ts":1}',
    '{"position":3,"t":"queue","ts":1}',
    '{"position":0,"t":"queue","ts":1}',
    '{"position":true,"t":"queue","ts":1}',
    '{"position":100001,"t":"queue","ts":1}',
    '{"name":"Sam","t":"joined","ts":1}',
    '{"name":"","t":"joined","ts":1}',
    '{"name":"' + "n" * 65 + '","t":"joined","ts":1}',
    '{"active":false,"t":"typing","ts":1}',
    '{"active":0,"t":"typing","ts":1}',
    '{"count":0,"t":"delivered","ts":1}',
    '{"count":-1,"t":"delivered","ts":1}',
    '{"count":2147483648,"t":"delivered","ts":1}',
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
    cases += [message[:18] + bytes([0, 9]) + message[20:], init[:20] + bytes([0]) + init[21:]]
    cases += [init[:18] + bytes([9, 1, 3]) + init[21:]]
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


# The strict JSON parser's edge cases (json.js finds a string's closing quote by
# counting backslashes and lets JSON.parse check the slice): escaped quotes, backslash
# runs, raw control characters, escapes, lone surrogates, duplicate keys (also spelled
# with an escape), keys Object.prototype has, numbers, literals, whitespace, bad UTF-8.
JSON_CASES: list[bytes] = [
    s.encode("utf-8", "surrogatepass")
    for s in [
        '{"a":"x\\"y"}',
        '{"a":"x\\\\"}',
        '{"a":"x\\\\\\"y"}',
        '{"a":"\\\\\\\\"}',
        '{"a":"x\\\\","b":"y\\\\\\\\"}',
        '{"a":"' + '\\"' * 300 + '"}',
        '{"a":"' + "\\\\" * 300 + '"}',
        '{"a\\"b":1,"c\\\\":2}',
        '{"a":"\\"}',
        '{"a":"\\\\\\"}',
        '{"a":"abc',
        '{"a":"\\',
        '{"a":"',
        '{"a":"x\u0001y"}',
        '{"a":"x\ny"}',
        '{"a":"x\u001fy"}',
        '{"a":"x\u007f\u2028\u2029y"}',
        '{"a\ty":1}',
        '{"a":"\\ud800"}',
        '{"a":"\\udc00x"}',
        '{"a":"\\ud83d\\ude42 \\u00e9 \\u0022 \\u005c"}',
        '{"\\ud800":1}',
        '{"a":"\\u12"}',
        '{"a":"\\u12G4"}',
        '{"a":"\\x41"}',
        '{"a":"\\U0041"}',
        '{"a":"\\a"}',
        '{"a":"\\/\\b\\f\\n\\r\\t"}',
        '{"a":1,"a":2}',
        '{"a":1,"\\u0061":2}',
        '{"__proto__":1,"__proto__":2}',
        '{"__proto__":{"x":1},"b":[]}',
        '{"toString":1,"constructor":2,"hasOwnProperty":"x","valueOf":null}',
        '{"1":1,"b":2,"0":3}',
        '{"a":[1,{"b":[]}],"c":{},"d":[[[]]]}',
        ' \t\n\r{ "a" : [ 1 , 2 ] ,"b":{ } } \n',
        '{"a":-0,"b":-12,"c":0,"d":9007199254740991}',
        '{"a":01}',
        '{"a":1.5}',
        '{"a":1e2}',
        '{"a":1E2}',
        '{"a":-}',
        '{"a":+1}',
        '{"a":true,"b":false,"c":null}',
        '{"a":tru}',
        '{"a":nulls}',
        '{"a":NaN}',
        '{"a":Infinity}',
        "{}",
        "[]",
        '"x"',
        "1",
        "",
        "{} {}",
        '{"a":1,}',
        "{,}",
        '{"a" 1}',
        "{'a':1}",
        "\ufeff{}",
        '{"a":1}\u00a0',
    ]
] + [b'{"a":"\xff"}', b'{"a":"\xed\xa0\x80"}', b'{"a":"\xc3"}']

JS_ASCII_JSON = """
window.asciiJson = (v) => {
  const esc = (s) => s.replace(/[\\u007f-\\uffff]/g, (c) => "\\\\u" + c.charCodeAt(0).toString(16).padStart(4, "0"));
  if (Array.isArray(v)) return "[" + v.map(asciiJson).join(",") + "]";
  if (v !== null && typeof v === "object") {
    return "{" + Object.keys(v).sort().map((k) => esc(JSON.stringify(k)) + ":" + asciiJson(v[k])).join(",") + "}";
  }
  return esc(JSON.stringify(v));
};
"""


def test_strict_json_parser_like_python(page: Page) -> None:
    page.evaluate("() => {" + JS_ASCII_JSON + "}")
    got = page.evaluate(
        """(xs) => xs.map((x) => outcome(() => {
             const o = Q.parseJsonObject(Q.hexDecode(x), 1 << 20);
             return [asciiJson(o), Object.getPrototypeOf(o) === Object.prototype];
           }))""",
        [c.hex() for c in JSON_CASES],
    )
    expected = []
    for c in JSON_CASES:
        out = _python_outcome(prof._parse_json_object, c, 1 << 20)
        if out[0] == "ok":
            text = json.dumps(out[1], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
            out = ["ok", [text, True]]
        expected.append(out)
    assert got == expected
    # Stated outright too, so a rule changed on both sides at once is still caught.
    outcome = dict(zip(JSON_CASES, got, strict=True))
    assert outcome[b'{"a":"x\\\\\\"y"}'] == ["ok", ['{"a":"x\\\\\\"y"}', True]]
    assert outcome[b'{"a":"\\"}'] == ["error", "MalformedInput"]
    assert outcome[b'{"a":"x\x01y"}'] == ["error", "MalformedInput"]
    assert outcome[b'{"a":1,"\\u0061":2}'] == ["error", "MalformedInput"]
    assert outcome[b'{"__proto__":1,"__proto__":2}'] == ["error", "MalformedInput"]
    assert outcome[b'{"a":"\\ud800"}'] == ["ok", ['{"a":"\\ud800"}', True]]
    assert sum(1 for g in got if g[0] == "ok") >= 15
    assert sum(1 for g in got if g[0] == "error") >= 30


PADDED_BODIES = [
    c * n
    for c in ("x", "é", "你", "🙂", '"\\\n')
    for n in (0, 1, 60, 61, 62, 63, 64, 80, 200, 219, 220, 221, 222, 230, 231, 255, 256, 700)
]


def test_padded_payload_is_pad_of_encoded_payload(page: Page) -> None:
    got = page.evaluate(
        """(bodies) => bodies.map((body) => {
             const p = { t: "text", body, ts: 7 };
             return [Q.hexEncode(Q.encodePaddedPayload(p)), Q.hexEncode(Q.pad(Q.encodePayload(p)))];
           })""",
        PADDED_BODIES,
    )
    for body, (fast, slow) in zip(PADDED_BODIES, got, strict=True):
        expected = padding.pad(payload.encode_payload(payload.Text(body, 7))).hex()
        assert fast == slow == expected, body[:8]
    refused = page.evaluate(
        """() => [outcome(() => Q.encodePaddedPayload({ t: "text", body: "y".repeat(16 * 1024), ts: 1 })),
                  outcome(() => Q.encodePaddedPayload({ t: "text", body: "é".repeat(8 * 1024 - 10), ts: 1 })),
                  outcome(() => Q.encodePaddedPayload({ t: "text", body: "\\ud800", ts: 1 })),
                  outcome(() => Q.encodePaddedPayload({ t: "text", body: "x", ts: 1.5 })),
                  Q.encodePaddedPayload({ t: "text", body: "y".repeat(16 * 1024 - 29), ts: 1 }).length]"""
    )
    assert refused == [
        ["error", "LocalProtocolError"],
        ["error", "LocalProtocolError"],
        ["error", "LocalProtocolError"],
        ["error", "LocalProtocolError"],
        16 * 1024 + 256,
    ]


def test_envelope_building_like_python(page: Page) -> None:
    from e2ee import envelope as env

    cid, dh, enc = bytes(range(16)), bytes(range(100, 132)), bytes(range(200, 232))
    cases = [
        (0, 1, 0, 0, None),
        (1, 0, 0xFFFFFFFF - 1, 0x01020304, None),
        (7, 2, 5, 0xFFFFFFFF, (2, 0xFFFFFFFF)),
    ]
    cases += [(0, 1, 0x80000000, 0x7FFFFFFF, (1, 0))]
    got = page.evaluate(
        """([cid, dh, enc, cases]) => cases.map(([s, r, pn, n, init]) => {
             const header = Q.makeHeader(Q.hexDecode(dh), pn, n);
             const fields = init && Q.makeInitFields(init[0], init[1], Q.hexDecode(enc));
             return [Q.hexEncode(Q.encodeHeader(header)), Q.hexEncode(Q.envelopeAad(Q.hexDecode(cid), s, r, header, fields))];
           })""",
        [cid.hex(), dh.hex(), enc.hex(), cases],
    )
    expected = []
    for s, r, pn, n, init in cases:
        header = env.Header(dh, pn, n)
        fields = env.InitFields(init[0], init[1], enc) if init else None
        expected.append(
            [header.to_bytes().hex(), env.envelope_aad(cid, s, r, header, fields).hex()]
        )
    assert got == expected
    refused = page.evaluate(
        """([cid, dh]) => {
             const good = Q.makeHeader(Q.hexDecode(dh), 0, 0);
             return [
               outcome(() => Q.encodeHeader({ dh: Q.hexDecode(dh), pn: 2 ** 32, n: 0 })),
               outcome(() => Q.encodeHeader({ dh: Q.hexDecode(dh), pn: 0, n: -1 })),
               outcome(() => Q.encodeHeader({ dh: new Uint8Array(31), pn: 0, n: 0 })),
               outcome(() => Q.envelopeAad(Q.hexDecode(cid), 0, 0, good)),
               outcome(() => Q.envelopeAad(Q.hexDecode(cid), 0, 8, good)),
               outcome(() => Q.envelopeAad(new Uint8Array(15), 0, 1, good)),
               outcome(() => Q.envelopeAad(Q.hexDecode(cid), 0, 1, good, { prekeyKind: 3, prekeyId: 0, enc: new Uint8Array(32) })),
             ];
           }""",
        [cid.hex(), dh.hex()],
    )
    assert refused == [["error", "LocalProtocolError"]] * 7
