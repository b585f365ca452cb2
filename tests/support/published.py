"""What the relay serves for a program, verified as a participant verifies it."""

from __future__ import annotations

import time
from typing import Any

import httpx

from e2ee.encoding import b64u_decode
from e2ee.identity import SignedObject, verify_profile, verify_status
from e2ee.profile import Profile, Status


def served(relay_url: str, program_id: str, identity_key: str) -> tuple[Profile, Status]:
    """The profile and status the relay serves, signature-checked against the pinned key."""
    record: dict[str, Any] = httpx.get(f"{relay_url}/v1/programs/{program_id}", timeout=10).json()
    key, pid = b64u_decode(identity_key), b64u_decode(program_id)
    profile = verify_profile(key, pid, SignedObject.from_json(record["profile"]))
    status = verify_status(key, pid, SignedObject.from_json(record["status"]), now=int(time.time()))
    return profile, status
