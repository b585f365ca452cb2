"""Project Wycheproof vectors for the primitives the suite uses, as data.

Policy, decided per the files' flags:

- X25519 (``x25519_test.json``, all 518): every ``valid`` case gives its shared secret.
  ``acceptable`` cases flagged ``ZeroSharedSecret`` (31: low-order public keys) are
  refused with :class:`InvalidKey`, as docs/protocol.md requires. The other
  ``acceptable`` cases (twist points, non-canonical encodings; RFC 7748 says to accept
  them) are accepted and must give the expected shared secret.
- AES-GCM (``aes_gcm_test.json``): the 66 cases with a 256-bit key, 96-bit IV and 128-bit
  tag. ``valid`` ones encrypt to ``ct || tag`` and decrypt back; ``invalid`` ones fail
  to decrypt with :class:`DecryptionError`.
- HKDF-SHA256 (``hkdf_sha256_test.json``, all 86): ``valid`` ones give ``okm``; the
  ``invalid`` ones ask for more than 255 * 32 bytes and raise :class:`LocalProtocolError`.
- Ed25519 (``ed25519_test.json``, all 151): ``valid`` ones verify; ``invalid`` ones
  raise :class:`InvalidSignature`.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from third_party_vectors import WYCHEPROOF

from e2ee import primitives
from e2ee.errors import DecryptionError, InvalidKey, InvalidSignature, LocalProtocolError

_WYCHEPROOF = WYCHEPROOF


def _cases(name: str, keep: Any = lambda group: True) -> list[Any]:
    data = json.loads((_WYCHEPROOF / name).read_text(encoding="utf-8"))
    out = []
    for group in data["testGroups"]:
        if not keep(group):
            continue
        for test in group["tests"]:
            out.append(pytest.param(group, test, id=f"tc{test['tcId']}"))
    return out


def _total(name: str) -> int:
    return int(json.loads((_WYCHEPROOF / name).read_text(encoding="utf-8"))["numberOfTests"])


X25519_CASES = _cases("x25519_test.json")
AES_GCM_CASES = _cases(
    "aes_gcm_test.json",
    lambda g: g["keySize"] == 256 and g["ivSize"] == 96 and g["tagSize"] == 128,
)
HKDF_CASES = _cases("hkdf_sha256_test.json")
ED25519_CASES = _cases("ed25519_test.json")


def test_case_counts() -> None:
    assert len(X25519_CASES) == _total("x25519_test.json") == 518
    assert len(AES_GCM_CASES) == 66
    assert len(HKDF_CASES) == _total("hkdf_sha256_test.json") == 86
    assert len(ED25519_CASES) == _total("ed25519_test.json") == 151
    zero = [c for c in X25519_CASES if "ZeroSharedSecret" in c.values[1]["flags"]]
    assert len(zero) == 31
    assert all(c.values[1]["result"] == "acceptable" for c in zero)


# -- X25519 -----------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "test"), X25519_CASES)
def test_x25519(group: dict[str, Any], test: dict[str, Any]) -> None:
    assert group["curve"] == "curve25519"
    private = bytes.fromhex(test["private"])
    public = bytes.fromhex(test["public"])
    shared = bytes.fromhex(test["shared"])
    if "ZeroSharedSecret" in test["flags"]:
        assert shared == bytes(32)
        with pytest.raises(InvalidKey):
            primitives.x25519(private, public)
    else:
        assert test["result"] in ("valid", "acceptable")
        assert primitives.x25519(private, public) == shared


# -- AES-256-GCM --------------------------------------------------------------------


@pytest.mark.parametrize(("group", "test"), AES_GCM_CASES)
def test_aes256gcm(group: dict[str, Any], test: dict[str, Any]) -> None:
    key, iv, aad, msg, ct, tag = (
        bytes.fromhex(test[k]) for k in ("key", "iv", "aad", "msg", "ct", "tag")
    )
    assert len(key) == 32 and len(iv) == 12 and len(tag) == 16
    if test["result"] == "valid":
        assert primitives.aes256gcm_encrypt(key, iv, msg, aad) == ct + tag
        assert primitives.aes256gcm_decrypt(key, iv, ct + tag, aad) == msg
    else:
        assert test["result"] == "invalid"
        with pytest.raises(DecryptionError):
            primitives.aes256gcm_decrypt(key, iv, ct + tag, aad)


# -- HKDF-SHA256 --------------------------------------------------------------------


@pytest.mark.parametrize(("group", "test"), HKDF_CASES)
def test_hkdf_sha256(group: dict[str, Any], test: dict[str, Any]) -> None:
    ikm, salt, info = (bytes.fromhex(test[k]) for k in ("ikm", "salt", "info"))
    if test["result"] == "valid":
        assert primitives.hkdf(salt, ikm, info, test["size"]) == bytes.fromhex(test["okm"])
    else:
        assert test["result"] == "invalid"
        assert "SizeTooLarge" in test["flags"]
        with pytest.raises(LocalProtocolError):
            primitives.hkdf(salt, ikm, info, test["size"])


# -- Ed25519 ------------------------------------------------------------------------


@pytest.mark.parametrize(("group", "test"), ED25519_CASES)
def test_ed25519_verify(group: dict[str, Any], test: dict[str, Any]) -> None:
    public = bytes.fromhex(group["publicKey"]["pk"])
    msg = bytes.fromhex(test["msg"])
    sig = bytes.fromhex(test["sig"])
    if test["result"] == "valid":
        primitives.ed25519_verify(public, msg, sig)
    else:
        assert test["result"] == "invalid"
        with pytest.raises(InvalidSignature):
            primitives.ed25519_verify(public, msg, sig)


# -- the wrappers' own argument checks ----------------------------------------------


def test_aead_parameter_errors() -> None:
    with pytest.raises(LocalProtocolError):
        primitives.aes256gcm_encrypt(bytes(16), bytes(12), b"", b"")
    with pytest.raises(LocalProtocolError):
        primitives.aes256gcm_decrypt(bytes(32), bytes(8), bytes(16), b"")
    with pytest.raises(DecryptionError):
        primitives.aes256gcm_decrypt(bytes(32), bytes(12), bytes(15), b"")


def test_hkdf_expand_rejects_short_prk_and_negative_length() -> None:
    with pytest.raises(LocalProtocolError):
        primitives.hkdf_expand(bytes(31), b"", 32)
    with pytest.raises(LocalProtocolError):
        primitives.hkdf_expand(bytes(32), b"", -1)


def test_x25519_wrong_lengths() -> None:
    secret, public = primitives.x25519_generate(lambda n: bytes(range(n)))
    assert primitives.x25519_public(secret) == public
    for bad in (bytes(31), bytes(33), "x" * 32):
        with pytest.raises(InvalidKey):
            primitives.x25519(secret, bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            primitives.x25519(bad, public)  # type: ignore[arg-type]


def test_ed25519_sign_verify_and_lengths() -> None:
    seed = bytes(range(32))
    public = primitives.ed25519_public_from_seed(seed)
    sig = primitives.ed25519_sign(seed, b"message")
    assert len(sig) == 64
    primitives.ed25519_verify(public, b"message", sig)
    with pytest.raises(InvalidSignature):
        primitives.ed25519_verify(public, b"messagE", sig)
    with pytest.raises(InvalidSignature):
        primitives.ed25519_verify(public, b"message", sig[:63])
    with pytest.raises(InvalidKey):
        primitives.ed25519_verify(public[:31], b"message", sig)
    with pytest.raises(InvalidKey):
        primitives.ed25519_sign(seed[:31], b"message")
    with pytest.raises(InvalidKey):
        primitives.ed25519_public_from_seed(seed + b"\x00")


def test_small_helpers() -> None:
    assert len(primitives.system_random(16)) == 16
    assert primitives.constant_time_equal(b"ab", b"ab")
    assert not primitives.constant_time_equal(b"ab", b"ac")
    assert primitives.sha256(b"abc").hex().startswith("ba7816bf")
