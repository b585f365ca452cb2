"""``quietline program init`` / ``info`` against a real relay, and its failures."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from client_sdk import ProgramClient, WrongPassphrase, publishing
from client_sdk.keystore import Keystore
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.identity import SignedObject, program_id_for, verify_profile

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple (test only)"


def run(*args: str, passphrase: str | None = PASSPHRASE) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("QUIETLINE_PASSPHRASE", None)
    if passphrase is not None:
        env["QUIETLINE_PASSPHRASE"] = passphrase
    return subprocess.run(
        [sys.executable, "-m", "quietline", "program", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_init_prints_exactly_the_ids_and_publishes_the_bundle(relay: Any, tmp_path: Path) -> None:
    profile = tmp_path / "profile.json"
    profile.write_text(
        json.dumps(
            {"name": "Línea de apoyo", "alternatives": [{"label": "Phone", "value": "+1 555 0100"}]}
        ),
        encoding="utf-8",
    )
    keystore = tmp_path / "p.qlks"
    result = run(
        "init",
        "--keystore",
        str(keystore),
        "--relay",
        relay.url,
        f"--enrollment-token={relay.add_program()}",
        "--profile",
        str(profile),
        "--json",
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert list(out) == ["program_id", "identity_key"]
    key = b64u_decode(out["identity_key"])
    assert b64u_decode(out["program_id"]) == program_id_for(key)
    record = httpx.get(f"{relay.url}/v1/programs/{out['program_id']}").json()
    published = verify_profile(key, program_id_for(key), SignedObject.from_json(record["profile"]))
    assert published.name == "Línea de apoyo"
    assert published.alternatives[0].value == "+1 555 0100"
    assert record["status"] is not None
    info = run("info", "--keystore", str(keystore), "--json")
    assert json.loads(info.stdout) == out
    text = run("info", "--keystore", str(keystore))
    assert "fingerprint:" in text.stdout


def test_init_refuses_to_overwrite_a_keystore(relay: Any, tmp_path: Path) -> None:
    keystore = tmp_path / "p.qlks"
    keystore.write_bytes(b"precious")
    result = run(
        "init",
        "--keystore",
        str(keystore),
        "--relay",
        relay.url,
        f"--enrollment-token={relay.add_program()}",
        "--json",
    )
    assert result.returncode == 1
    assert keystore.read_bytes() == b"precious"


async def run_async(*args: str) -> tuple[int, str, str]:
    """``run`` without blocking the event loop (a proxy in this process serves it)."""
    env = dict(os.environ)
    env["QUIETLINE_PASSPHRASE"] = PASSPHRASE
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "quietline",
        "program",
        *args,
        env=env,
        cwd=ROOT,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_init_that_stopped_after_enrolling_is_finished_by_running_it_again(
    proxy: Any, relay: Any, tmp_path: Path
) -> None:
    """The relay fails after the enrollment: the keystore stays (the identity is
    enrolled); the same command again finishes the job with that identity, and a third
    run has nothing to do and changes nothing."""
    keystore = tmp_path / "p.qlks"
    args = (
        "init",
        "--keystore",
        str(keystore),
        "--relay",
        proxy.url,
        "--origin",
        relay.url,
        f"--enrollment-token={relay.add_program()}",
        "--json",
    )
    proxy.http_down = lambda method, path: method == "PUT" and path.endswith("/profile")
    code, _out, err = await run_async(*args)
    assert code == 1 and "unavailable" in err
    assert keystore.exists()

    proxy.http_down = None
    code, out, err = await run_async(*args)  # the token is spent: not needed again
    assert code == 0, err
    ids = json.loads(out)
    assert program_id_for(b64u_decode(ids["identity_key"])) == b64u_decode(ids["program_id"])
    async with httpx.AsyncClient(base_url=relay.url) as c:
        record = (await c.get(f"/v1/programs/{ids['program_id']}")).json()
        assert record["profile"] is not None and record["status"] is not None
        bundle = (await c.post(f"/v1/programs/{ids['program_id']}/bundle")).json()
        assert bundle["signed_prekey"] is not None and bundle["one_time_prekey"] is not None

    before = keystore.read_bytes()
    code, _out, err = await run_async(*args)
    assert code == 1 and "initialized already" in err
    assert keystore.read_bytes() == before
    info = run("info", "--keystore", str(keystore), "--json")
    assert json.loads(info.stdout) == ids


async def test_init_whose_enrollment_answer_was_lost_keeps_the_keystore_and_finishes(
    proxy: Any, relay: Any, tmp_path: Path
) -> None:
    """The relay enrolled the key but its answer never came: the keystore (the enrolled
    identity) stays, and running again signs in with it instead of enrolling anew."""
    keystore = tmp_path / "p.qlks"
    args = (
        "init",
        "--keystore",
        str(keystore),
        "--relay",
        proxy.url,
        "--origin",
        relay.url,
        f"--enrollment-token={relay.add_program()}",
        "--json",
    )
    proxy.http_lost = lambda method, path: method == "POST" and path == "/v1/programs"
    code, _out, err = await run_async(*args)
    assert code == 1 and "quietline program:" in err
    assert keystore.exists()
    with Keystore.open(keystore, PASSPHRASE) as ks:
        identity_key = b64u_encode(publishing.load_identity(ks).public_key)

    proxy.http_lost = None
    code, out, err = await run_async(*args)
    assert code == 0, err
    assert json.loads(out)["identity_key"] == identity_key
    async with httpx.AsyncClient(base_url=relay.url) as c:
        record = (await c.get(f"/v1/programs/{json.loads(out)['program_id']}")).json()
        assert record["profile"] is not None


def test_init_with_a_bad_token_leaves_nothing(relay: Any, tmp_path: Path) -> None:
    keystore = tmp_path / "p.qlks"
    result = run(
        "init",
        "--keystore",
        str(keystore),
        "--relay",
        relay.url,
        "--enrollment-token=not-a-real-token",
        "--json",
    )
    assert result.returncode == 1
    assert "quietline program:" in result.stderr
    assert not keystore.exists()


def test_init_without_a_passphrase_and_no_terminal_fails_cleanly(
    relay: Any, tmp_path: Path
) -> None:
    result = run(
        "init",
        "--keystore",
        str(tmp_path / "p.qlks"),
        "--relay",
        relay.url,
        "--enrollment-token=x",
        passphrase=None,
    )
    assert result.returncode != 0
    assert "no passphrase" in result.stderr  # refused for that, not for the bad token
    assert not (tmp_path / "p.qlks").exists()


async def test_connect_with_a_wrong_passphrase(shared_program: Any, relay: Any) -> None:
    with pytest.raises(WrongPassphrase):
        await ProgramClient.connect(relay.url, shared_program.keystore, "not the passphrase")
