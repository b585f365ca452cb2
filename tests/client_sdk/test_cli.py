"""``quietline program init`` / ``info`` against a real relay, and its failures."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from relay_process import free_port

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
    assert f"the keystore {keystore} is kept for a re-run" in err
    continued = shlex.split(err.strip().splitlines()[-1])  # the command to continue
    assert continued == ["quietline", "program", *args]

    proxy.http_down = None
    code, out, err = await run_async(*continued[2:])  # the token is spent: not needed again
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


@pytest.mark.parametrize(
    "token",
    [["--enrollment-token=not-a-real-token"], ["--enrollment-token", "-not-a-real-token"]],
    ids=["glued", "apart-and-begins-with-a-dash"],
)
def test_init_with_a_bad_token_leaves_nothing(relay: Any, tmp_path: Path, token: list[str]) -> None:
    """A token is base64url, so one in 64 begins with "-": written apart from its option
    it is still the token (the relay refuses it), not an unknown option."""
    keystore = tmp_path / "p.qlks"
    result = run("init", "--keystore", str(keystore), "--relay", relay.url, *token, "--json")
    assert result.returncode == 1
    assert f"the relay at {relay.url} refused: " in result.stderr
    assert "(bad_token)" in result.stderr
    assert "could not connect" not in result.stderr and "kept" not in result.stderr
    assert not keystore.exists()


def test_init_that_cannot_connect_says_so_and_creates_nothing(tmp_path: Path) -> None:
    keystore = tmp_path / "p.qlks"
    url = f"http://127.0.0.1:{free_port()}"  # nobody listens there
    result = run("init", "--keystore", str(keystore), "--relay", url, "--enrollment-token=x")
    assert result.returncode == 1
    assert f"could not connect to {url}" in result.stderr
    assert "refused" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("relay_url", "problem"),
    [
        ("127.0.0.1:8000", "must be an http:// or https:// URL with a host"),
        ("relay.example.org", "must be an http:// or https:// URL with a host"),
        ("http://", "must be an http:// or https:// URL with a host"),
        ("ftp://relay.example.org", "must be an http:// or https:// URL with a host"),
        ("https://relay.example.org/v1", "origin only"),
    ],
)
def test_init_checks_the_relay_url_before_creating_a_file(
    tmp_path: Path, relay_url: str, problem: str
) -> None:
    result = run(
        "init", "--keystore", str(tmp_path / "p.qlks"), "--relay", relay_url, "--enrollment-token=x"
    )
    assert result.returncode == 2
    assert problem in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_checks_the_keystore_folder_first(relay: Any, tmp_path: Path) -> None:
    keystore = tmp_path / "missing" / "p.qlks"
    result = run("init", "--keystore", str(keystore), "--relay", relay.url, "--enrollment-token=x")
    assert result.returncode == 2 and "does not exist" in result.stderr
    result = run("init", "--keystore", str(tmp_path), "--relay", relay.url, "--enrollment-token=x")
    assert result.returncode == 2 and "is a folder" in result.stderr


def test_a_refused_profile_sends_nothing_and_creates_nothing(relay: Any, tmp_path: Path) -> None:
    """The profile is refused, key named, before the token is spent or a file made: the
    same token then enrolls, and a partial notice keeps the other defaults."""
    token = relay.add_program()
    keystore = tmp_path / "p.qlks"
    profile = tmp_path / "profile.json"
    bad = [
        ({"name": "Line", "nmae": "typo"}, "profile key nmae: unknown key (did you mean name?)"),
        ({"hours": {"timezone": "Mars/Base", "weekly": []}}, "profile key hours.timezone: "),
        ({"hours": {"timezone": "UTC", "weekly": []}}, "closed at every hour"),
    ]
    for content, message in bad:
        profile.write_text(json.dumps(content), encoding="utf-8")
        result = run(
            "init",
            "--keystore",
            str(keystore),
            "--relay",
            relay.url,
            f"--enrollment-token={token}",
            "--profile",
            str(profile),
        )
        assert result.returncode != 0
        assert message in result.stderr, result.stderr
        assert not keystore.exists()

    profile.write_text(json.dumps({"notice": {"voluntary": "Only if you want to."}}))
    result = run(
        "init",
        "--keystore",
        str(keystore),
        "--relay",
        relay.url,
        f"--enrollment-token={token}",
        "--profile",
        str(profile),
        "--json",
    )
    assert result.returncode == 0, result.stderr  # the token was not spent
    out = json.loads(result.stdout)
    key = b64u_decode(out["identity_key"])
    record = httpx.get(f"{relay.url}/v1/programs/{out['program_id']}").json()
    published = verify_profile(key, program_id_for(key), SignedObject.from_json(record["profile"]))
    assert published.notice.voluntary == "Only if you want to."
    assert published.notice.choices == publishing.DEFAULT_PROFILE["notice"]["choices"]


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
