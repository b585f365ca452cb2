"""HPKE (RFC 9180), base mode, for one cipher suite only.

Suite: DHKEM(X25519, HKDF-SHA256) ``kem_id`` 0x0020, HKDF-SHA256 ``kdf_id`` 0x0001,
AES-256-GCM ``aead_id`` 0x0002. Modes psk, auth and auth_psk are deliberately absent.

The public API carries the RFC's names and plain ``bytes`` (32-byte X25519 keys) so that
any other implementation can be driven with the same inputs::

    sk, pk = derive_key_pair(ikm)
    enc, sender = setup_base_sender(pk, info)          # SetupBaseS
    recipient = setup_base_recipient(enc, sk, info)    # SetupBaseR
    ct = sender.seal(aad, pt); pt = recipient.open(aad, ct)
    sender.export(exporter_context, length) == recipient.export(exporter_context, length)

Security properties and assumptions:

- A public key of low order (an all-zero X25519 shared secret) is refused with
  :class:`~e2ee.errors.InvalidKey`, on both the sender (``pk_r``) and recipient (``enc``)
  side, so a relay cannot force a known shared secret.
- A context's nonce is ``base_nonce XOR I2OSP(seq, 12)``; ``seq`` only increases, and once
  it reaches ``2**96 - 1`` the context refuses further use
  (:class:`~e2ee.errors.SequenceOverflow`) rather than reuse a nonce. A failed
  :meth:`RecipientContext.open` does not advance ``seq`` (RFC 9180 §5.2).
- A failed open raises one :class:`~e2ee.errors.DecryptionError` that does not say why.
- Contexts keep the key, base nonce and exporter secret in private attributes and never
  show them in ``repr``. Python cannot wipe memory; drop the context to forget them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from e2ee.errors import LocalProtocolError, SequenceOverflow
from e2ee.primitives import (
    AES256_KEY_SIZE,
    GCM_NONCE_SIZE,
    HASH_SIZE,
    RandomSource,
    aes256gcm_decrypt,
    aes256gcm_encrypt,
    constant_time_equal,
    hkdf_expand,
    hkdf_extract,
    system_random,
    x25519,
    x25519_public,
)

KEM_ID = 0x0020
KDF_ID = 0x0001
AEAD_ID = 0x0002
MODE_BASE = 0x00

N_SECRET = 32  # Nsecret: KEM shared secret length
N_ENC = 32  # Nenc
N_PK = 32  # Npk
N_SK = 32  # Nsk
N_K = AES256_KEY_SIZE  # Nk
N_N = GCM_NONCE_SIZE  # Nn
N_H = HASH_SIZE  # Nh

MAX_SEQ = (1 << (8 * N_N)) - 1
"""The first sequence number a context refuses to use (RFC 9180 §5.2 IncrementSeq)."""

MAX_EXPORT_LENGTH = 255 * N_H
"""The largest ``length`` :meth:`Context.export` accepts (HKDF-SHA256's limit)."""

_VERSION_LABEL = b"HPKE-v1"
KEM_SUITE_ID = b"KEM" + KEM_ID.to_bytes(2, "big")
HPKE_SUITE_ID = (
    b"HPKE" + KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + AEAD_ID.to_bytes(2, "big")
)


def _check_bytes(value: object, what: str) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise LocalProtocolError(f"{what} must be bytes")
    return bytes(value)


# -- labeled KDF (RFC 9180 §4) --------------------------------------------------------


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    """``Extract(salt, "HPKE-v1" || suite_id || label || ikm)``."""
    return hkdf_extract(salt, _VERSION_LABEL + suite_id + label + ikm)


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    """``Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)``."""
    if not 0 <= length <= MAX_EXPORT_LENGTH:
        raise LocalProtocolError("HPKE output length out of range")
    labeled_info = length.to_bytes(2, "big") + _VERSION_LABEL + suite_id + label + info
    return hkdf_expand(prk, labeled_info, length)


# -- DHKEM(X25519, HKDF-SHA256) (RFC 9180 §4.1, §7.1.3) -------------------------------


def derive_key_pair(ikm: bytes) -> tuple[bytes, bytes]:
    """DeriveKeyPair: a deterministic (sk, pk) from ``ikm`` (at least 32 bytes)."""
    ikm = _check_bytes(ikm, "ikm")
    if len(ikm) < N_SK:
        raise LocalProtocolError("DeriveKeyPair needs at least 32 bytes of ikm")
    dkp_prk = labeled_extract(KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    sk = labeled_expand(KEM_SUITE_ID, dkp_prk, b"sk", b"", N_SK)
    return sk, x25519_public(sk)


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh)
    return labeled_expand(KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, N_SECRET)


def encap(
    pk_r: bytes, *, ikm_e: bytes | None = None, random: RandomSource = system_random
) -> tuple[bytes, bytes]:
    """Encap: ``(shared_secret, enc)``. ``ikm_e`` fixes the ephemeral key (tests only)."""
    pk_r = _check_bytes(pk_r, "pk_r")
    if ikm_e is None:
        ikm_e = random(N_SK)
    sk_e, pk_e = derive_key_pair(ikm_e)
    dh = x25519(sk_e, pk_r)  # InvalidKey for a wrong length or low-order pk_r
    enc = pk_e
    return _extract_and_expand(dh, enc + pk_r), enc


def decap(enc: bytes, sk_r: bytes) -> bytes:
    """Decap: the shared secret for ``enc`` (InvalidKey if ``enc`` has low order)."""
    enc = _check_bytes(enc, "enc")
    sk_r = _check_bytes(sk_r, "sk_r")
    dh = x25519(sk_r, enc)
    return _extract_and_expand(dh, enc + x25519_public(sk_r))


# -- key schedule (RFC 9180 §5.1), base mode ------------------------------------------


@dataclass(frozen=True, eq=False)
class KeySchedule:
    """Every value the base-mode key schedule derives; secrets are hidden from ``repr``.

    ``==`` is constant-time over all fields; not hashable.
    """

    key_schedule_context: bytes
    secret: bytes = field(repr=False)
    key: bytes = field(repr=False)
    base_nonce: bytes = field(repr=False)
    exporter_secret: bytes = field(repr=False)

    def _bytes(self) -> bytes:
        return b"".join(
            len(v).to_bytes(2, "big") + v
            for v in (
                self.key_schedule_context, self.secret, self.key, self.base_nonce,
                self.exporter_secret,
            )
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeySchedule):
            return NotImplemented
        return constant_time_equal(self._bytes(), other._bytes())


def key_schedule(shared_secret: bytes, info: bytes) -> KeySchedule:
    """KeySchedule(mode_base, shared_secret, info, psk="", psk_id="")."""
    info = _check_bytes(info, "info")
    psk = b""
    psk_id = b""
    psk_id_hash = labeled_extract(HPKE_SUITE_ID, b"", b"psk_id_hash", psk_id)
    info_hash = labeled_extract(HPKE_SUITE_ID, b"", b"info_hash", info)
    context = bytes([MODE_BASE]) + psk_id_hash + info_hash
    secret = labeled_extract(HPKE_SUITE_ID, shared_secret, b"secret", psk)
    return KeySchedule(
        key_schedule_context=context,
        secret=secret,
        key=labeled_expand(HPKE_SUITE_ID, secret, b"key", context, N_K),
        base_nonce=labeled_expand(HPKE_SUITE_ID, secret, b"base_nonce", context, N_N),
        exporter_secret=labeled_expand(HPKE_SUITE_ID, secret, b"exp", context, N_H),
    )


# -- encryption contexts (RFC 9180 §5.2, §5.3) ----------------------------------------


class Context:
    """The state shared by both ends: key, base nonce, sequence number, exporter secret."""

    __slots__ = ("_base_nonce", "_exporter_secret", "_key", "_seq")

    def __init__(self, schedule: KeySchedule, *, seq: int = 0) -> None:
        if not 0 <= seq <= MAX_SEQ:
            raise LocalProtocolError("sequence number out of range")
        self._key = schedule.key
        self._base_nonce = schedule.base_nonce
        self._exporter_secret = schedule.exporter_secret
        self._seq = seq

    @property
    def seq(self) -> int:
        """The sequence number the next seal/open will use."""
        return self._seq

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seq={self._seq}, key=<hidden>)"

    def _nonce(self) -> bytes:
        if self._seq >= MAX_SEQ:
            raise SequenceOverflow("HPKE context has no nonces left")
        seq_bytes = self._seq.to_bytes(N_N, "big")
        return bytes(a ^ b for a, b in zip(self._base_nonce, seq_bytes, strict=True))

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """Secret export: ``LabeledExpand(exporter_secret, "sec", exporter_context, L)``."""
        exporter_context = _check_bytes(exporter_context, "exporter_context")
        return labeled_expand(
            HPKE_SUITE_ID, self._exporter_secret, b"sec", exporter_context, length
        )


class SenderContext(Context):
    """The sender's context: seals, and exports."""

    __slots__ = ()

    def seal(self, aad: bytes, pt: bytes) -> bytes:
        """Encrypt ``pt`` bound to ``aad`` under the next nonce; returns ct || tag."""
        aad = _check_bytes(aad, "aad")
        pt = _check_bytes(pt, "pt")
        ct = aes256gcm_encrypt(self._key, self._nonce(), pt, aad)
        self._seq += 1
        return ct


class RecipientContext(Context):
    """The recipient's context: opens in order, and exports."""

    __slots__ = ()

    def open(self, aad: bytes, ct: bytes) -> bytes:
        """Decrypt ``ct``; on failure raise DecryptionError and leave ``seq`` unchanged."""
        aad = _check_bytes(aad, "aad")
        ct = _check_bytes(ct, "ct")
        pt = aes256gcm_decrypt(self._key, self._nonce(), ct, aad)
        self._seq += 1
        return pt


def setup_base_sender(
    pk_r: bytes,
    info: bytes,
    *,
    ikm_e: bytes | None = None,
    random: RandomSource = system_random,
) -> tuple[bytes, SenderContext]:
    """SetupBaseS: ``(enc, context)`` to the holder of ``pk_r``'s secret."""
    info = _check_bytes(info, "info")
    shared_secret, enc = encap(pk_r, ikm_e=ikm_e, random=random)
    return enc, SenderContext(key_schedule(shared_secret, info))


def setup_base_recipient(enc: bytes, sk_r: bytes, info: bytes) -> RecipientContext:
    """SetupBaseR: the context matching the sender's ``enc`` and ``info``."""
    info = _check_bytes(info, "info")
    shared_secret = decap(enc, sk_r)
    return RecipientContext(key_schedule(shared_secret, info))


__all__ = [
    "AEAD_ID",
    "HPKE_SUITE_ID",
    "KDF_ID",
    "KEM_ID",
    "KEM_SUITE_ID",
    "MAX_EXPORT_LENGTH",
    "MAX_SEQ",
    "MODE_BASE",
    "N_ENC",
    "N_H",
    "N_K",
    "N_N",
    "N_PK",
    "N_SECRET",
    "N_SK",
    "Context",
    "KeySchedule",
    "RecipientContext",
    "SenderContext",
    "decap",
    "derive_key_pair",
    "encap",
    "key_schedule",
    "labeled_expand",
    "labeled_extract",
    "setup_base_recipient",
    "setup_base_sender",
]
