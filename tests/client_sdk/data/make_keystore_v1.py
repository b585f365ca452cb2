"""Write ``keystore-v1.qlks``: a keystore of format 1, as the code before issue 18 wrote it.

The committed file was written by this script at commit 05ae8b2, where the class was
still ``client_sdk.keystore.Keystore``; today the same code is ``KeystoreV1``. Run from
the repository root (it refuses to overwrite the file). Values are made up, seed 18.
"""

from __future__ import annotations

import json
import random

from client_sdk.keystore import Argon2Params, KeystoreV1, weak_argon2_for_tests

PASSPHRASE = "keystore v1 fixture (test only)"
FAST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)


def main() -> None:
    rng = random.Random(18)  # made-up test data, not secrets

    def rnd(n: int) -> bytes:
        return bytes(rng.getrandbits(8) for _ in range(n))

    with weak_argon2_for_tests():  # FAST is under today's floor; it was allowed then
        ks = KeystoreV1.create(
            "tests/client_sdk/data/keystore-v1.qlks", PASSPHRASE, params=FAST, random=rnd
        )
    ks.put("identity/seed", bytes(range(32)))
    program = {"relay_url": "http://127.0.0.1:1", "origin": "http://127.0.0.1:1"}
    ks.put("program", json.dumps(dict(program, program_id="fixture")).encode())
    ks.put("prekey/last-id", b"7")
    ks.put("prekey/one-time/7", b"one-time prekey record (fixture)")
    ks.put("replay/key", bytes(32))
    ks.put("codeword/home", b"codeword record (fixture)")
    ks.put("console/staff/alice", b"staff account (fixture)")
    for cid in ("conv-a", "conv-b"):
        ks.put(f"conversation/{cid}/session", b"session bytes of " + cid.encode())
        meta = {"opened_at": 1.0, "recent_ids": ["m1"]}
        ks.put(f"conversation/{cid}/meta", json.dumps(meta).encode())
        transcript = [
            {"from": "participant", "t": "text", "ts": 1, "body": f"hello from {cid}"},
            {"from": "program", "t": "text", "ts": 2, "body": "hello, how can we help?"},
        ]
        ks.put(f"conversation/{cid}/transcript", json.dumps(transcript).encode())
    kept = [{"from": "participant", "t": "text", "ts": 0, "body": "kept"}]
    ks.put("retained/conv-old", json.dumps(kept).encode())
    ks.save()


if __name__ == "__main__":
    main()
