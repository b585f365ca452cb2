import json, random
from client_sdk.keystore import Argon2Params, Keystore

rng = random.Random(18)


def rnd(n):
    return bytes(rng.getrandbits(8) for _ in range(n))


FAST = Argon2Params(time_cost=1, memory_cost=8, parallelism=1)
ks = Keystore.create(
    "tests/client_sdk/data/keystore-v1.qlks",
    "keystore v1 fixture (test only)",
    params=FAST,
    random=rnd,
)
ks.put("identity/seed", bytes(range(32)))
ks.put(
    "program",
    json.dumps(
        {"relay_url": "http://127.0.0.1:1", "origin": "http://127.0.0.1:1", "program_id": "fixture"}
    ).encode(),
)
ks.put("prekey/last-id", b"7")
ks.put("prekey/one-time/7", b"one-time prekey record (fixture)")
ks.put("replay/key", bytes(32))
ks.put("codeword/home", b"codeword record (fixture)")
ks.put("console/staff/alice", b"staff account (fixture)")
for cid in ("conv-a", "conv-b"):
    ks.put(f"conversation/{cid}/session", b"session bytes of " + cid.encode())
    ks.put(
        f"conversation/{cid}/meta", json.dumps({"opened_at": 1.0, "recent_ids": ["m1"]}).encode()
    )
    ks.put(
        f"conversation/{cid}/transcript",
        json.dumps(
            [
                {"from": "participant", "t": "text", "ts": 1, "body": f"hello from {cid}"},
                {"from": "program", "t": "text", "ts": 2, "body": "hello, how can we help?"},
            ]
        ).encode(),
    )
ks.put(
    "retained/conv-old",
    json.dumps([{"from": "participant", "t": "text", "ts": 0, "body": "kept"}]).encode(),
)
ks.save()
print(sorted(ks.names()))
