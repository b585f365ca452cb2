"""``quietline program ...``: the program node's command line.

``quietline program init --keystore PATH --relay URL --enrollment-token TOKEN
[--profile FILE] [--origin ORIGIN] [--json]`` creates the keystore (passphrase from
``QUIETLINE_PASSPHRASE`` or a prompt, never an argument: arguments show in process
lists; a new passphrase needs at least 15 characters, e.g. a few unrelated words, and
the prompt asks again, up to three times, saying why), enrolls the identity with the
relay, publishes the bundle (signed prekey, one-time prekeys, signed profile and status)
and prints the program id and identity key.
Run again on the keystore of an ``init`` that stopped half-way (the relay failed after
the enrollment), it finishes the job: the same identity, enrolled once.
With ``--json`` the output is exactly ``{"program_id": ..., "identity_key": ...}``.

Before it creates any file, ``init`` checks what it can: the relay URL (http or https,
with a host), the profile (every refusal names the key), the keystore's folder, and
that the relay can be reached at all ("could not connect" is told apart from a
refusal by the relay, which is quoted). When a failure leaves the keystore for a
re-run, it says so and prints the command that continues.

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
import json
import os
import shlex
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from client_sdk import keystore_cli, publishing, store
from client_sdk.argv import glue_values
from client_sdk.errors import (
    CorruptKeystore,
    KeystoreError,
    RelayError,
    RelayUnavailable,
    SDKError,
    VerificationFailure,
)
from client_sdk.keystore import Keystore
from client_sdk.profile_content import ProfileError
from client_sdk.transport import RelayHTTP
from client_sdk.workflow.prekeys import PrekeyPolicy, one_time_prekeys_to_generate
from client_sdk.workflow.status import StatusKeeper
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import QuietlineError
from e2ee.identity import IdentityKeyPair, fingerprint, sign_profile, sign_status
from e2ee.primitives import system_random

PASSPHRASE_ENV = "QUIETLINE_PASSPHRASE"  # noqa: S105 - the variable name, not a secret


def _passphrase(confirm: bool, file: Path | None = None) -> str:
    """The keystore passphrase, from ``file``, the environment or a prompt
    (:func:`client_sdk.keystore_cli.get_passphrase`). ``confirm``: a new one, asked twice
    and held to the keystore's strength rule (a weak one from the prompt is asked again,
    with the reason; one from a file or the environment ends the command before anything
    is created)."""
    prompt = "New keystore passphrase" if confirm else "Keystore passphrase"
    return keystore_cli.get_passphrase(PASSPHRASE_ENV, file, prompt, confirm=confirm)


class AlreadyInitialized(Exception):
    """``init`` on a keystore that is enrolled and published already: nothing to do."""


class Refused(Exception):
    """An argument ``init`` refuses before it creates anything; the message says why."""


class CouldNotConnect(Exception):
    """No connection to the relay at all: nothing was sent, nothing created."""


TOKEN_CODES = frozenset({"bad_token", "enrollment_used", "expired"})


def _check_url(value: str, option: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise Refused(
            f"{option} must be an http:// or https:// URL with a host, "
            f"e.g. https://relay.example.org (got {value!r})"
        )
    if parts.username or parts.password:
        raise Refused(f"{option} must not carry a user name or password")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise Refused(f"{option} must be the relay's origin only, e.g. https://relay.example.org")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise Refused(f"{option} has a port that is not a number from 0 to 65535") from None
    return value


def _check_keystore_path(path: Path) -> None:
    if path.is_dir():
        raise Refused(f"--keystore {path} is a folder; give the path of a file")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise Refused(f"--keystore: the folder {folder} does not exist")
    if not path.exists() and not os.access(folder, os.W_OK | os.X_OK):
        raise Refused(f"--keystore: cannot create a file in {folder} (no permission)")


def _check_init(args: argparse.Namespace) -> dict[str, Any] | None:
    """Everything ``init`` can check before it asks for a passphrase or creates a file;
    the profile file's content, checked (defaults filled in only when signing)."""
    _check_url(args.relay, "--relay")
    if args.origin:
        _check_url(args.origin, "--origin")
    if not args.enrollment_token:
        raise Refused("--enrollment-token is empty")
    _check_keystore_path(args.keystore)
    if args.profile is None:
        return None
    try:
        content = publishing.read_profile_file(args.profile)
    except OSError as exc:
        raise Refused(f"--profile {args.profile}: {exc.strerror or exc}") from None
    publishing.profile_from_content(content, int(datetime.now(UTC).timestamp()))
    return content


async def _check_reachable(relay: str) -> None:
    """One request before anything is created: a relay that cannot be reached at all
    is "could not connect", never a half-made keystore."""
    try:
        async with httpx.AsyncClient(timeout=15.0) as client:
            await client.get(relay.rstrip("/") + "/v1/health")
    except httpx.HTTPError as exc:
        raise CouldNotConnect(str(exc) or type(exc).__name__) from None


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


async def _init(
    args: argparse.Namespace, passphrase: str, content: dict[str, Any] | None
) -> dict[str, str]:
    """Create, enroll, publish. A keystore left by an ``init`` that stopped half-way (the
    relay failed after the enrollment, say) is finished instead: it is enrolled only if
    it was not, and everything is published again (a fresh signed prekey, one-time
    prekeys up to the policy's supply, the profile and status)."""
    moment = datetime.now(UTC)
    now = int(moment.timestamp())
    policy = PrekeyPolicy()
    await _check_reachable(args.relay)
    created = not args.keystore.exists()
    if created:
        ks = Keystore.create(args.keystore, passphrase)
        identity = IdentityKeyPair.generate(system_random)
        ks.put(store.IDENTITY, identity.seed)
    else:
        ks = _open_existing(args, passphrase)
        identity = publishing.load_identity(ks)
    args.keystore_in_use = True
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


def _say(text: str) -> None:
    print(f"quietline program: {text}", file=sys.stderr)


def _continue_hint(args: argparse.Namespace, argv: Sequence[str], exc: Exception) -> None:
    """When a failed ``init`` leaves its keystore, say so and how to continue."""
    if not getattr(args, "keystore_in_use", False) or not args.keystore.exists():
        return
    command = ["quietline", "program", *argv]
    new_token = isinstance(exc, RelayError) and exc.code in TOKEN_CODES
    if new_token:
        command = [
            "--enrollment-token=NEW_TOKEN" if a.startswith("--enrollment-token") else a
            for a in command
        ]
        if "--enrollment-token" in command:  # the token was the next argument
            at = command.index("--enrollment-token")
            command[at : at + 2] = ["--enrollment-token=NEW_TOKEN"]
    _say(
        f"the keystore {args.keystore} is kept for a re-run: it holds this program's "
        "identity, which the relay may have enrolled already. To continue, run (with "
        "the same passphrase"
        + (", and a new token from `quietline relay add-program`" if new_token else "")
        + "):\n    "
        + shlex.join(command)
    )


def _report(args: argparse.Namespace, exc: Exception) -> None:
    relay = getattr(args, "relay", "")
    if isinstance(exc, RelayUnavailable):
        _say(f"the relay at {relay} stopped answering: {exc.message}")
    elif isinstance(exc, RelayError) and exc.status >= 500:
        _say(f"the relay at {relay} failed ({exc.status} {exc.code}): {exc.message}")
    elif isinstance(exc, RelayError):
        _say(f"the relay at {relay} refused: {exc.message or exc.code} ({exc.code})")
    elif isinstance(exc, ProfileError):
        where = args.profile if args.profile else "stored in the keystore"
        kept = getattr(args, "keystore_in_use", False)
        _say(f"the profile {where} is refused: {exc}" + ("" if kept else "; nothing was created"))
    else:
        detail = exc.code if isinstance(exc, SDKError) and hasattr(exc, "code") else None
        _say(f"{detail or type(exc).__name__}: {exc}")


def _passphrase_for(args: argparse.Namespace, *, confirm: bool) -> str:
    """From ``--passphrase-file`` if given, else the environment or a prompt."""
    return _passphrase(confirm, args.passphrase_file)


def main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(glue_values(argv, ("--enrollment-token",)))
    try:
        if args.command in ("backup", "restore", "passphrase"):
            print(keystore_cli.run(args))
            return 0
        if args.command == "init":
            content = _check_init(args)
            passphrase = _passphrase_for(args, confirm=not args.keystore.exists())
            out = asyncio.run(_init(args, passphrase, content))
        else:
            out = _info(args, _passphrase_for(args, confirm=False))
    except AlreadyInitialized as exc:
        _say(f"{exc}; nothing to do (`info` shows its ids)")
        return 1
    except (FileExistsError, Refused) as exc:
        _say(str(exc))
        return 1 if isinstance(exc, FileExistsError) else 2
    except CouldNotConnect as exc:
        _say(
            f"could not connect to {args.relay} ({exc}): is the relay running there, and "
            "is the URL right? Nothing was created."
        )
        return 1
    except (SDKError, KeystoreError, QuietlineError, OSError, ValueError) as exc:
        _report(args, exc)
        _continue_hint(args, argv, exc)
        return 1
    if args.json:
        print(json.dumps(out))
    else:
        print(f"program id:   {out['program_id']}")
        print(f"identity key: {out['identity_key']}")
        print(f"fingerprint:  {fingerprint(b64u_decode(out['identity_key']))}")
    return 0
