"""``quietline program ...``: the program node's command line.

``quietline program init --keystore PATH --relay URL --enrollment-token TOKEN
[--profile FILE] [--origin ORIGIN] [--json]`` creates the keystore (passphrase from
``QUIETLINE_PASSPHRASE`` or a prompt, never an argument: arguments show in process
lists), enrolls the identity with the relay, publishes the bundle (signed prekey,
one-time prekeys, signed profile and status) and prints the program id and identity key.
Run again on the keystore of an ``init`` that stopped half-way (the relay failed after
the enrollment), it finishes the job: the same identity, enrolled once.
With ``--json`` the output is exactly ``{"program_id": ..., "identity_key": ...}``.

``quietline program info --keystore PATH [--json]`` prints the same from an existing
keystore, with the fingerprint to write into the embed snippet.

``--passphrase-file FILE`` reads the passphrase from a file only its owner can read
(for running unattended). ``backup``, ``restore`` and ``passphrase`` are in
:mod:`client_sdk.keystore_cli`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from client_sdk import keystore_cli, publishing, store
from client_sdk.errors import (
    CorruptKeystore,
    KeystoreError,
    RelayError,
    RelayUnavailable,
    SDKError,
    VerificationFailure,
)
from client_sdk.keystore import Keystore
from client_sdk.transport import RelayHTTP
from client_sdk.workflow.prekeys import PrekeyPolicy, one_time_prekeys_to_generate
from client_sdk.workflow.status import StatusKeeper
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import QuietlineError
from e2ee.identity import IdentityKeyPair, fingerprint, sign_profile, sign_status
from e2ee.primitives import system_random

PASSPHRASE_ENV = "QUIETLINE_PASSPHRASE"  # noqa: S105 - the variable name, not a secret


def _passphrase(confirm: bool) -> str:
    value = os.environ.get(PASSPHRASE_ENV)
    if value:
        return value
    try:
        first = getpass.getpass("Keystore passphrase: ")
        if confirm and getpass.getpass("Repeat the passphrase: ") != first:
            raise SystemExit("quietline program: the passphrases differ")
    except (EOFError, KeyboardInterrupt):
        raise SystemExit(f"quietline program: no passphrase (set {PASSPHRASE_ENV})") from None
    if not first:
        raise SystemExit("quietline program: an empty passphrase is not allowed")
    return first


class AlreadyInitialized(Exception):
    """``init`` on a keystore that is enrolled and published already: nothing to do."""


def _open_existing(args: argparse.Namespace, passphrase: str) -> Keystore:
    """The keystore a previous ``init`` left half-way (it stopped after creating it, or
    after enrolling), to finish; anything else there is refused and left untouched."""
    try:
        ks = Keystore.open(args.keystore, passphrase)
    except CorruptKeystore:
        raise FileExistsError(
            f"{args.keystore} exists and is not a keystore; refusing to overwrite it"
        ) from None
    program = store.get_json(ks, store.PROGRAM)
    done = (
        program is not None
        and store.get_json(ks, store.PUBLISHED_PROFILE) is not None
        and store.get_json(ks, store.PUBLISHED_STATUS) is not None
    )
    if done or (program is not None and program.get("relay_url") != args.relay):
        ks.close()
        if done:
            raise AlreadyInitialized(f"{args.keystore} is initialized already")
        raise FileExistsError(f"{args.keystore} is enrolled with another relay")
    return ks


async def _enroll(
    http: RelayHTTP,
    identity: IdentityKeyPair,
    args: argparse.Namespace,
    origin: str,
    ks: Keystore,
    *,
    created: bool,
) -> str:
    """Enroll the identity; its program id.

    When the relay says the token is spent or the key enrolled, an earlier try may have
    enrolled this very identity and lost the answer: if the relay lets it sign in, it is
    enrolled. Only a definite refusal removes a keystore this run created (nothing was
    registered for it, so the command can simply be rerun); after a failure that may
    have come after the relay enrolled it (no answer, a 5xx, an interruption) the
    keystore stays, and running the command again finishes the job."""
    try:
        return await publishing.enroll(http, identity, args.enrollment_token)
    except RelayError as exc:
        refused = not isinstance(exc, RelayUnavailable) and 400 <= exc.status < 500
        if refused and exc.code in ("enrollment_used", "conflict"):
            with contextlib.suppress(RelayError, VerificationFailure):
                await publishing.authenticate(http, identity, origin)
                return b64u_encode(identity.program_id)
        if refused and created:
            ks.close()
            with contextlib.suppress(FileNotFoundError):
                Path(args.keystore).unlink()
        raise


async def _init(args: argparse.Namespace, passphrase: str) -> dict[str, str]:
    """Create, enroll, publish. A keystore left by an ``init`` that stopped half-way (the
    relay failed after the enrollment, say) is finished instead: it is enrolled only if
    it was not, and everything is published again (a fresh signed prekey, one-time
    prekeys up to the policy's supply, the profile and status)."""
    content = publishing.read_profile_file(args.profile) if args.profile else None
    moment = datetime.now(UTC)
    now = int(moment.timestamp())
    policy = PrekeyPolicy()
    if content is not None:
        publishing.profile_from_content(content, now)  # refuse a bad file before anything
    created = not args.keystore.exists()
    if created:
        ks = Keystore.create(args.keystore, passphrase)
        identity = IdentityKeyPair.generate(system_random)
        ks.put(store.IDENTITY, identity.seed)
    else:
        ks = _open_existing(args, passphrase)
        identity = publishing.load_identity(ks)
    if content is None:
        content = store.get_json(ks, store.PROFILE_CONTENT) or {}
    profile = publishing.profile_from_content(content, now)
    store.put_json(ks, store.PROFILE_CONTENT, content)
    ks.save()
    http = RelayHTTP(args.relay)
    try:
        origin = args.origin or http.origin
        program = store.get_json(ks, store.PROGRAM)
        if program is None:
            program_id = await _enroll(http, identity, args, origin, ks, created=created)
            store.put_json(ks, store.PROGRAM, {"program_id": program_id, "relay_url": args.relay})
            ks.save()
        else:
            program_id = str(program["program_id"])
        token, _ = await publishing.authenticate(http, identity, origin)
        [signed_prekey] = publishing.new_prekeys(
            ks, identity, 1, moment, system_random, policy, one_time=False
        )
        count = 0 if created else await http.one_time_prekey_count(program_id, token)
        one_time = publishing.new_prekeys(
            ks,
            identity,
            one_time_prekeys_to_generate(count, policy),
            moment,
            system_random,
            policy,
            one_time=True,
        )
        signed_profile = sign_profile(identity, profile)
        status = StatusKeeper().due(moment)
        assert status is not None  # nothing published yet: always due
        signed_status = sign_status(identity, status.to_status())
        ks.save()  # secrets are sealed on disk before their public halves leave
        await http.put_signed_prekey(program_id, token, signed_prekey.to_json())
        if one_time:
            await http.post_one_time_prekeys(program_id, token, [p.to_json() for p in one_time])
        await http.put_profile(program_id, token, signed_profile.to_json())
        await http.put_status(program_id, token, signed_status.to_json())
        store.put_json(ks, store.PUBLISHED_PROFILE, signed_profile.to_json())
        store.put_json(ks, store.PUBLISHED_STATUS, signed_status.to_json())
        ks.save()
    finally:
        await http.aclose()
        ks.close()
    return {"program_id": program_id, "identity_key": b64u_encode(identity.public_key)}


def _info(args: argparse.Namespace, passphrase: str) -> dict[str, str]:
    with Keystore.open(args.keystore, passphrase) as ks:
        identity = publishing.load_identity(ks)
    return {
        "program_id": b64u_encode(identity.program_id),
        "identity_key": b64u_encode(identity.public_key),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quietline program")
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create the keystore, enroll and publish the bundle")
    init.add_argument("--keystore", required=True, type=Path)
    init.add_argument("--relay", required=True, help="the relay's URL, e.g. https://relay.example")
    init.add_argument("--enrollment-token", required=True)
    init.add_argument("--profile", type=Path, help="JSON file with the profile content")
    init.add_argument(
        "--origin",
        help="the relay's public origin, when --relay reaches it "
        "another way (a tunnel, a proxy): sign-in challenges name it",
    )
    init.add_argument("--json", action="store_true")
    info = sub.add_parser("info", help="print the program id, identity key and fingerprint")
    info.add_argument("--keystore", required=True, type=Path)
    info.add_argument("--json", action="store_true")
    for cmd in (init, info):
        cmd.add_argument(
            "--passphrase-file",
            type=Path,
            help="read the keystore passphrase from this file (mode 600, yours)",
        )
    keystore_cli.add_commands(sub)
    return parser


def _passphrase_for(args: argparse.Namespace, *, confirm: bool) -> str:
    if args.passphrase_file is not None:
        return keystore_cli.read_passphrase_file(args.passphrase_file)
    return _passphrase(confirm)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(list(argv))
    try:
        if args.command in ("backup", "restore", "passphrase"):
            print(keystore_cli.run(args))
            return 0
        if args.command == "init":
            confirm = not args.keystore.exists()
            out = asyncio.run(_init(args, _passphrase_for(args, confirm=confirm)))
        else:
            out = _info(args, _passphrase_for(args, confirm=False))
    except AlreadyInitialized as exc:
        print(f"quietline program: {exc}; nothing to do (`info` shows its ids)", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"quietline program: {exc}", file=sys.stderr)
        return 1
    except (SDKError, KeystoreError, QuietlineError, OSError, ValueError) as exc:
        detail = exc.code if isinstance(exc, RelayError) else type(exc).__name__
        print(f"quietline program: {detail}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out))
    else:
        print(f"program id:   {out['program_id']}")
        print(f"identity key: {out['identity_key']}")
        print(f"fingerprint:  {fingerprint(b64u_decode(out['identity_key']))}")
    return 0
