"""Cost of the Double Ratchet against the raw primitives it is made of.

For a 1 KB message, one run measures, interleaved so that machine load hits all alike:

- ``symmetric``: ``e2ee.ratchet.encrypt`` + ``decrypt`` of one message in an
  established chain (KDF_CK on both sides, AES-256-GCM keyed by the message key), no DH
  step;
- ``dh``: the same, but every message answers the other side, so each decryption also
  performs a DH ratchet step (two X25519, two KDF_RK and a new key pair);
- ``baseline``: libsodium's AES-256-GCM encrypt + decrypt of the same 1 KB with the same
  60-byte AAD, plus two HMAC-SHA256, each ``hmac.digest(key, msg, "sha256")``: the
  standard library's fastest one-shot call, the very call e2ee.primitives.hmac_sha256
  makes;
- ``floor`` (for information): the baseline with the four HMAC-SHA256 that
  docs/protocol.md requires per message instead of two (KDF_CK on each side) and the
  12-byte random nonce ENCRYPT draws from the OS (``os.urandom``), i.e. the cost of the
  primitives alone, with no protocol code. The baseline itself stays as it was before
  the random nonce (issue 18), so the ratios before and after compare.

It prints microseconds per message and the ratios to the baseline, using the fastest of
the repeats (as ``timeit`` advises: slower runs measure other processes, not this code).
Repeats are short (200 messages, a few milliseconds) and many, so that on a shared,
loaded machine some repeats of every runner fit in one scheduler time slice; long repeats
are almost always interrupted, and then the ratios measure the load, not the code.
The last line is ``RESULT symmetric_ratio=<x> dh_ratio=<x>``. Target: symmetric_ratio <= 2.0.

Usage: ``python bench/crypto_bench.py [--messages N] [--repeats R]``
"""

from __future__ import annotations

import argparse
import hmac
import os
import random
import statistics
import time
from collections.abc import Callable

import nacl.bindings as sodium

from e2ee.envelope import Header
from e2ee.primitives import system_random, x25519_generate
from e2ee.ratchet import RatchetState, decrypt, encrypt, init_alice, init_bob

MESSAGE = bytes(range(256)) * 4  # 1 KB
AAD_PREFIX = bytes(20)  # an envelope's bytes before the header (version .. slots)


def aad_for(header: Header) -> bytes:
    return AAD_PREFIX + header.to_bytes()


def _pair(seed: int) -> tuple[RatchetState, RatchetState, Callable[[int], bytes]]:
    rnd = random.Random(seed).randbytes
    bob_secret, bob_public = x25519_generate(rnd)
    sk = rnd(32)
    return init_alice(sk, bob_public, rnd), init_bob(sk, bob_secret, bob_public), rnd


def run_symmetric(n: int) -> float:
    alice, bob, rnd = _pair(1)
    alice, header, ct = encrypt(alice, MESSAGE, aad_for, system_random)
    bob = decrypt(bob, header, ct, aad_for(header), rnd).state  # Bob's one DH step, untimed
    start = time.perf_counter_ns()
    for _ in range(n):
        alice, header, ct = encrypt(alice, MESSAGE, aad_for, system_random)
        out = decrypt(bob, header, ct, aad_for(header), rnd)
        bob = out.state
    elapsed = time.perf_counter_ns() - start
    assert out.plaintext == MESSAGE
    return elapsed / n / 1000


def run_dh(n: int) -> float:
    alice, bob, rnd = _pair(2)
    start = time.perf_counter_ns()
    for i in range(n):
        if i % 2 == 0:
            alice, header, ct = encrypt(alice, MESSAGE, aad_for, system_random)
            out = decrypt(bob, header, ct, aad_for(header), rnd)
            bob = out.state
        else:
            bob, header, ct = encrypt(bob, MESSAGE, aad_for, system_random)
            out = decrypt(alice, header, ct, aad_for(header), rnd)
            alice = out.state
    elapsed = time.perf_counter_ns() - start
    assert out.plaintext == MESSAGE
    return elapsed / n / 1000


def run_baseline(n: int) -> float:
    key = bytes(range(32))
    chain_key = bytes(range(32, 64))
    nonce = bytes(12)
    aad = AAD_PREFIX + bytes(40)
    aead_encrypt = sodium.crypto_aead_aes256gcm_encrypt
    aead_decrypt = sodium.crypto_aead_aes256gcm_decrypt
    digest = hmac.digest
    start = time.perf_counter_ns()
    for _ in range(n):
        ct = aead_encrypt(MESSAGE, aad, nonce, key)
        pt = aead_decrypt(ct, aad, nonce, key)
        digest(chain_key, b"\x01", "sha256")
        digest(chain_key, b"\x02", "sha256")
    elapsed = time.perf_counter_ns() - start
    assert pt == MESSAGE
    return elapsed / n / 1000


def run_floor(n: int) -> float:
    key = bytes(range(32))
    chain_key = bytes(range(32, 64))
    aad = AAD_PREFIX + bytes(40)
    aead_encrypt = sodium.crypto_aead_aes256gcm_encrypt
    aead_decrypt = sodium.crypto_aead_aes256gcm_decrypt
    digest = hmac.digest
    urandom = os.urandom
    start = time.perf_counter_ns()
    for _ in range(n):
        nonce = urandom(12)
        ct = aead_encrypt(MESSAGE, aad, nonce, key)
        pt = aead_decrypt(ct, aad, nonce, key)
        for _ in range(4):
            digest(chain_key, b"\x01", "sha256")
    elapsed = time.perf_counter_ns() - start
    assert pt == MESSAGE
    return elapsed / n / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=60)
    args = parser.parse_args()

    runners = {
        "baseline": run_baseline,
        "floor": run_floor,
        "symmetric": run_symmetric,
        "dh": run_dh,
    }
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for runner in runners.values():  # warm-up
        runner(max(1, args.messages // 10))
    for _ in range(args.repeats):
        for name, runner in runners.items():
            samples[name].append(runner(args.messages))

    best = {name: min(values) for name, values in samples.items()}
    print(f"1 KB message, {args.messages} messages x {args.repeats} repeats (fastest repeat)")
    for name in runners:
        median = statistics.median(samples[name])
        print(f"  {name:<9} {best[name]:8.2f} us per encrypt+decrypt (median {median:.2f})")
    symmetric_ratio = best["symmetric"] / best["baseline"]
    dh_ratio = best["dh"] / best["baseline"]
    print(f"  floor / baseline          = {best['floor'] / best['baseline']:.2f} (primitives only)")
    print(f"  symmetric step / baseline = {symmetric_ratio:.2f} (target <= 2.0)")
    print(f"  DH step / baseline        = {dh_ratio:.2f}")
    print(f"RESULT symmetric_ratio={symmetric_ratio:.2f} dh_ratio={dh_ratio:.2f}")


if __name__ == "__main__":
    main()
