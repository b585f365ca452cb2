"""The widget's WebCrypto primitives (widget/protocol/primitives.js) against Wycheproof.

- X25519: all 518 cases; the 31 whose shared secret is all zeros (low-order public
  keys) must be refused with InvalidKey, every other case must give Wycheproof's secret.
- Ed25519: all 151 verification cases through ed25519Verify: valid ones pass, invalid
  ones raise InvalidSignature (or InvalidKey for a key of the wrong length).
- AES-256-GCM (96-bit IV, 128-bit tag) and HKDF-SHA256 cases, as the ratchet uses them.
"""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import Page
from third_party_vectors import WYCHEPROOF


def _cases(name: str) -> list[dict[str, Any]]:
    data = json.loads((WYCHEPROOF / name).read_text())
    return [{**t, "_group": g} for g in data["testGroups"] for t in g["tests"]]


def test_x25519_wycheproof(protocol_page: Page) -> None:
    cases = [
        {"id": t["tcId"], "public": t["public"], "private": t["private"]}
        for t in _cases("x25519_test.json")
    ]
    expected = {t["tcId"]: t["shared"] for t in _cases("x25519_test.json")}
    assert len(cases) == 518
    got = protocol_page.evaluate(
        """async (cases) => {
          const out = {};
          for (const c of cases) {
            try {
              const k = await Q.X25519PrivateKey.fromSecret(Q.hexDecode(c.private));
              out[c.id] = Q.hexEncode(await k.exchange(Q.hexDecode(c.public)));
            } catch (e) { out[c.id] = e instanceof Q.QuietlineError ? e.name : String(e); }
          }
          return out;
        }""",
        cases,
    )
    refused = 0
    for tc_id, shared in expected.items():
        if shared == "00" * 32:
            refused += 1
            assert got[str(tc_id)] == "InvalidKey", tc_id
        else:
            assert got[str(tc_id)] == shared, tc_id
    assert refused == 31


def test_x25519_private_key_is_not_extractable(protocol_page: Page) -> None:
    got = protocol_page.evaluate(
        """async () => {
          const k = await Q.X25519PrivateKey.generate();
          let exported = true;
          try { await crypto.subtle.exportKey("pkcs8", k.cryptoKey); } catch { exported = false; }
          return { extractable: k.cryptoKey.extractable, exported, n: k.publicKey.length };
        }"""
    )
    assert got == {"extractable": False, "exported": False, "n": 32}


def test_x25519_generate_overwrites_the_secret_bytes_it_drew(protocol_page: Page) -> None:
    """The secret lives in the CryptoKey only: the random bytes generate() drew are
    zeroed once imported; fromSecret() leaves its caller's bytes alone."""
    got = protocol_page.evaluate(
        """async () => {
          const drawn = [];
          const random = (n) => {
            const b = crypto.getRandomValues(new Uint8Array(n));
            drawn.push([b, b.slice()]);
            return b;
          };
          const k = await Q.X25519PrivateKey.generate(random);
          const [bytes, copy] = drawn[0];
          const same = await Q.X25519PrivateKey.fromSecret(copy);
          return { drawn: drawn.length, zeroed: bytes.every((b) => b === 0),
                   sameKey: Q.hexEncode(k.publicKey) === Q.hexEncode(same.publicKey),
                   callerKept: copy.some((b) => b !== 0) };
        }"""
    )
    assert got == {"drawn": 1, "zeroed": True, "sameKey": True, "callerKept": True}


def test_ed25519_wycheproof(protocol_page: Page) -> None:
    cases = [
        {"id": t["tcId"], "pk": t["_group"]["publicKey"]["pk"], "msg": t["msg"], "sig": t["sig"]}
        for t in _cases("ed25519_test.json")
    ]
    expected = {t["tcId"]: t["result"] for t in _cases("ed25519_test.json")}
    assert len(cases) == 151
    got = protocol_page.evaluate(
        """async (cases) => {
          const out = {};
          for (const c of cases) {
            try {
              await Q.ed25519Verify(Q.hexDecode(c.pk), Q.hexDecode(c.msg), Q.hexDecode(c.sig));
              out[c.id] = "valid";
            } catch (e) { out[c.id] = e instanceof Q.QuietlineError ? e.name : String(e); }
          }
          return out;
        }""",
        cases,
    )
    for tc_id, result in expected.items():
        if result == "valid":
            assert got[str(tc_id)] == "valid", tc_id
        else:
            assert got[str(tc_id)] in {"InvalidSignature", "InvalidKey"}, tc_id


def test_aes256gcm_wycheproof(protocol_page: Page) -> None:
    cases = [
        {k: t[k] for k in ("tcId", "key", "iv", "aad", "msg", "ct", "tag", "result")}
        for t in _cases("aes_gcm_test.json")
        if t["_group"]["keySize"] == 256
        and t["_group"]["ivSize"] == 96
        and t["_group"]["tagSize"] == 128
    ]
    assert len(cases) == 66
    got = protocol_page.evaluate(
        """async (cases) => {
          const h = Q.hexDecode, x = Q.hexEncode, out = {};
          for (const c of cases) {
            const sealed = Q.concatBytes(h(c.ct), h(c.tag));
            let opened;
            try { opened = x(await Q.aes256gcmDecrypt(h(c.key), h(c.iv), sealed, h(c.aad))); }
            catch (e) { opened = e.name; }
            const enc = x(await Q.aes256gcmEncrypt(h(c.key), h(c.iv), h(c.msg), h(c.aad)));
            out[c.tcId] = { opened, enc };
          }
          return out;
        }""",
        cases,
    )
    for c in cases:
        r = got[str(c["tcId"])]
        if c["result"] == "valid":
            assert r["opened"] == c["msg"], c["tcId"]
            assert r["enc"] == c["ct"] + c["tag"], c["tcId"]
        else:
            assert r["opened"] == "DecryptionError", c["tcId"]


def test_hkdf_sha256_wycheproof(protocol_page: Page) -> None:
    cases = [
        {k: t[k] for k in ("tcId", "ikm", "salt", "info", "size", "okm", "result")}
        for t in _cases("hkdf_sha256_test.json")
    ]
    got = protocol_page.evaluate(
        """async (cases) => {
          const h = Q.hexDecode, x = Q.hexEncode, out = {};
          for (const c of cases) {
            let a, b;
            try { a = x(await Q.hkdf(h(c.salt), h(c.ikm), h(c.info), c.size)); }
            catch (e) { a = e.name; }
            try {
              const prk = await Q.hkdfExtract(h(c.salt), h(c.ikm));
              b = x(await Q.hkdfExpand(prk, h(c.info), c.size));
            } catch (e) { b = e.name; }
            out[c.tcId] = [a, b];
          }
          return out;
        }""",
        cases,
    )
    for c in cases:
        a, b = got[str(c["tcId"])]
        if c["result"] == "valid":
            assert a == b == c["okm"], c["tcId"]
        else:
            assert a == b == "LocalProtocolError", c["tcId"]
