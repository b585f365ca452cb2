"""Signature checks on everything a program publishes, so the relay refuses garbage.

The relay is never trusted for this: participants verify every object again against
the identity key pinned on the program's website. These checks only keep unsigned,
mis-signed, malformed or expired objects out of the database.
"""

from __future__ import annotations

import hashlib

from e2ee import identity
from e2ee.errors import Expired, InvalidKey, InvalidSignature, MalformedInput, VerificationError
from server.errors import ApiError
from server.wire import SignedObject


def _translate(exc: Exception, what: str) -> ApiError:
    if isinstance(exc, Expired):
        return ApiError("expired", f"The {what} has expired.")
    if isinstance(exc, InvalidSignature | VerificationError):
        return ApiError("bad_signature", f"The signature on the {what} does not verify.")
    if isinstance(exc, InvalidKey):
        return ApiError("bad_key_length", f"The {what} holds an unusable key.")
    return ApiError("malformed_field", f"The {what} does not parse.")


_ERRORS = (Expired, InvalidKey, InvalidSignature, VerificationError, MalformedInput)


def _e2ee(signed: SignedObject) -> identity.SignedObject:
    return identity.SignedObject(body=signed.body, signature=signed.signature)


def enrollment(identity_key: bytes, token: str, signature: bytes) -> bytes:
    """Check the enrollment signature; returns the program id derived from the key."""
    program_id = identity.program_id_for(identity_key)
    body = hashlib.sha256(token.encode()).digest()
    try:
        identity.verify_signature(identity_key, identity.LABEL_ENROLL, program_id, body, signature)
    except _ERRORS as exc:
        raise _translate(exc, "enrollment") from None
    return program_id


def relay_auth(
    identity_key: bytes, program_id: bytes, challenge: bytes, origin: str, signature: bytes
) -> None:
    body = challenge + origin.encode()
    try:
        identity.verify_signature(
            identity_key, identity.LABEL_RELAY_AUTH, program_id, body, signature
        )
    except _ERRORS:
        raise ApiError("bad_signature", "The challenge signature does not verify.") from None


def prekey(
    identity_key: bytes, program_id: bytes, signed: SignedObject, *, one_time: bool, now: int
) -> identity.PrekeyBody:
    what = "one-time prekey" if one_time else "signed prekey"
    try:
        return identity.verify_prekey(
            identity_key, program_id, _e2ee(signed), one_time=one_time, now=now
        )
    except _ERRORS as exc:
        raise _translate(exc, what) from None


def profile(identity_key: bytes, program_id: bytes, signed: SignedObject) -> None:
    try:
        identity.verify_profile(identity_key, program_id, _e2ee(signed))
    except _ERRORS as exc:
        raise _translate(exc, "profile") from None


def status(identity_key: bytes, program_id: bytes, signed: SignedObject, now: int) -> None:
    try:
        identity.verify_status(identity_key, program_id, _e2ee(signed), now=now)
    except _ERRORS as exc:
        raise _translate(exc, "status") from None


def status_is_current(body: bytes, now: int) -> bool:
    """For answers: a stored status past its expiry is not handed out (it means unknown)."""
    try:
        return identity.parse_status(body).expires_at > now
    except MalformedInput:
        return False


def generation(identity_key: bytes, program_id: bytes, signed: SignedObject, size: int) -> None:
    """A sealed store generation (opaque here) signed by the program."""
    if len(signed.body) != size:
        raise ApiError("malformed_field", f"The generation must be {size} bytes.")
    try:
        identity.verify_signature(
            identity_key, identity.LABEL_GENERATION, program_id, signed.body, signed.signature
        )
    except _ERRORS:
        raise ApiError(
            "bad_signature", "The signature on the generation does not verify."
        ) from None
