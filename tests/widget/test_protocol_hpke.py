"""The widget's HPKE (widget/protocol/hpke.js) in Chromium against RFC 9180's own vectors.

Suite 0x0020/0x0001/0x0002, base mode: every intermediate value, all 257 encryptions
(sender seals, recipient opens) and the exports, from the copy in tests/vectors/third_party.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page
from third_party_vectors import HPKE_RFC9180

VECTORS = HPKE_RFC9180


def _base_aes256_vector() -> dict[str, Any]:
    entries = [
        v
        for v in json.loads(VECTORS.read_text())
        if v["mode"] == 0 and v["kem_id"] == 32 and v["kdf_id"] == 1 and v["aead_id"] == 2
    ]
    assert len(entries) == 1
    entry: dict[str, Any] = entries[0]
    return entry


RUN_VECTOR = """async (v) => {
  const h = Q.hexDecode, x = Q.hexEncode;
  const out = {};
  const skR = await Q.deriveKeyPair(h(v.ikmR));
  out.pkRm = x(skR.publicKey);
  out.skRm = x(await Q.deriveKeyPairSecret(h(v.ikmR)));
  out.skEm = x(await Q.deriveKeyPairSecret(h(v.ikmE)));
  const { sharedSecret, enc } = await Q.encap(h(v.pkRm), { ikmE: h(v.ikmE) });
  out.enc = x(enc);
  out.shared_secret = x(sharedSecret);
  out.shared_secret_r = x(await Q.decap(enc, skR));
  const ks = await Q.keyScheduleBase(sharedSecret, h(v.info));
  out.key_schedule_context = x(ks.keyScheduleContext);
  out.secret = x(ks.secret);
  out.key = x(ks.key);
  out.base_nonce = x(ks.baseNonce);
  out.exporter_secret = x(ks.exporterSecret);
  const sender = await Q.setupBaseS(h(v.pkRm), h(v.info), { ikmE: h(v.ikmE) });
  const receiver = await Q.setupBaseR(sender.enc, skR, h(v.info));
  out.cts = [];
  out.pts = [];
  for (const e of v.encryptions) {
    const ct = await sender.context.seal(h(e.aad), h(e.pt));
    out.cts.push(x(ct));
    out.pts.push(x(await receiver.open(h(e.aad), h(e.ct))));
  }
  out.exports = [];
  for (const e of v.exports) {
    out.exports.push([x(await sender.context.export(h(e.exporter_context), e.L)),
                      x(await receiver.export(h(e.exporter_context), e.L))]);
  }
  return out;
}"""


def test_rfc9180_base_x25519_sha256_aes256gcm(protocol_page: Page) -> None:
    v = _base_aes256_vector()
    assert len(v["encryptions"]) == 257
    got = protocol_page.evaluate(RUN_VECTOR, v)
    for name in (
        "pkRm",
        "skRm",
        "skEm",
        "enc",
        "shared_secret",
        "key_schedule_context",
        "secret",
        "key",
        "base_nonce",
        "exporter_secret",
    ):
        assert got[name] == v[name], name
    assert got["shared_secret_r"] == v["shared_secret"]
    assert got["cts"] == [e["ct"] for e in v["encryptions"]]
    assert got["pts"] == [e["pt"] for e in v["encryptions"]]
    assert len(v["exports"]) == 3
    for (sent, received), e in zip(got["exports"], v["exports"], strict=True):
        assert sent == received == e["exported_value"]


def test_open_failure_is_typed_and_does_not_advance(protocol_page: Page) -> None:
    v = _base_aes256_vector()
    got = protocol_page.evaluate(
        """async (v) => {
          const h = Q.hexDecode;
          const skR = await Q.deriveKeyPair(h(v.ikmR));
          const r = await Q.setupBaseR(h(v.enc), skR, h(v.info));
          const e = v.encryptions[0];
          const bad = h(e.ct); bad[0] ^= 1;
          let name = null, isDecryption = false;
          try { await r.open(h(e.aad), bad); } catch (err) {
            name = err.name; isDecryption = err instanceof Q.DecryptionError; }
          const seqAfterFailure = r.sequence;
          const pt = Q.hexEncode(await r.open(h(e.aad), h(e.ct)));
          return { name, isDecryption, seqAfterFailure, pt };
        }""",
        v,
    )
    assert got == {
        "name": "DecryptionError",
        "isDecryption": True,
        "seqAfterFailure": 0,
        "pt": v["encryptions"][0]["pt"],
    }


def test_setup_overwrites_the_ephemeral_bytes_it_drew(protocol_page: Page) -> None:
    """ikmE drawn from `random` is zeroed once the ephemeral key is imported; an ikmE
    passed by the caller is left alone; both give the same context."""
    v = _base_aes256_vector()
    got = protocol_page.evaluate(
        """async (v) => {
          const h = Q.hexDecode, x = Q.hexEncode;
          let drawn = null;
          const random = (n) => { drawn = h(v.ikmE).slice(0, n); return drawn; };
          const given = h(v.ikmE);
          const a = await Q.setupBaseS(h(v.pkRm), h(v.info), { random });
          const b = await Q.setupBaseS(h(v.pkRm), h(v.info), { ikmE: given });
          const e = v.exports[0];
          return { zeroed: drawn.every((c) => c === 0), givenKept: x(given) === v.ikmE,
                   enc: [x(a.enc), x(b.enc)],
                   exported: [x(await a.context.export(h(e.exporter_context), e.L)),
                              x(await b.context.export(h(e.exporter_context), e.L))] };
        }""",
        v,
    )
    e = v["exports"][0]["exported_value"]
    assert got == {"zeroed": True, "givenKept": True, "enc": [v["enc"]] * 2, "exported": [e, e]}


@pytest.mark.parametrize("bad_enc", ["00" * 32, "01" + "00" * 31])
def test_low_order_enc_is_invalid_key(protocol_page: Page, bad_enc: str) -> None:
    v = _base_aes256_vector()
    name = protocol_page.evaluate(
        """async ([v, enc]) => {
          const skR = await Q.deriveKeyPair(Q.hexDecode(v.ikmR));
          try { await Q.setupBaseR(Q.hexDecode(enc), skR, Q.hexDecode(v.info)); return null; }
          catch (err) { return err instanceof Q.InvalidKey ? err.name : String(err); }
        }""",
        [v, bad_enc],
    )
    assert name == "InvalidKey"
