"""deploy/systemd: the relay's and the program node's units are hardened, systemd takes
them (``systemd-analyze verify`` where it is installed), and their command lines run."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from deploy_helpers import DEPLOY, INSTALLED, QUIETLINE, exec_start, tool, unit_entries
from relay_process import FUNCTIONAL_LIMITS, free_port, start_relay, stop_process

RELAY_UNIT = DEPLOY / "systemd" / "quietline-relay.service"
PROGRAM_UNIT = DEPLOY / "systemd" / "quietline-program.service"
UNITS = [RELAY_UNIT, PROGRAM_UNIT]
PASSPHRASE = "correct horse battery staple (deploy test)"
WAIT = 60.0

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "CapabilityBoundingSet": "",
    "UMask": "0077",
    "StateDirectoryMode": "0700",
}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_are_hardened(path: Path) -> None:
    service = unit_entries(path)["Service"]
    for key, expected in HARDENING.items():
        assert service.get(key) == [expected], (path.name, key, service.get(key))
    user = service.get("User", [""])[0]
    assert user.startswith("quietline-") or service.get("DynamicUser") == ["yes"]
    assert service["StateDirectory"] == [user]
    assert service["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
    assert "@system-service" in service["SystemCallFilter"]
    assert "~@privileged" in service["SystemCallFilter"]
    assert service["Restart"] == ["on-failure"]
    assert "multi-user.target" in unit_entries(path)["Install"]["WantedBy"]
    assert INSTALLED in service["ExecStart"][0]


def test_the_passphrase_is_a_credential_never_an_argument_or_variable() -> None:
    service = unit_entries(PROGRAM_UNIT)["Service"]
    (credential,) = service["LoadCredential"]
    name, _, source = credential.partition(":")
    assert name == "keystore-passphrase" and source.startswith("/etc/")
    args = exec_start(PROGRAM_UNIT)
    assert args[args.index("--passphrase-file") + 1] == "${CREDENTIALS_DIRECTORY}/" + name
    assert not any("PASSPHRASE" in value for value in service.get("Environment", []))


def test_the_relay_listens_on_loopback_behind_its_proxy() -> None:
    args = exec_start(RELAY_UNIT)
    assert args[args.index("--host") + 1] == "127.0.0.1"
    assert args[args.index("--trusted-proxy") + 1] == "127.0.0.1"
    assert args[args.index("--public-origin") + 1].startswith("https://")
    assert "--metrics-host" not in args  # the metrics port stays on 127.0.0.1


@pytest.fixture
def installed_units(tmp_path: Path) -> Path:
    """The units with this checkout's command where /opt/quietline's would be."""
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(INSTALLED, QUIETLINE)
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    return tmp_path


def test_systemd_analyze_verifies_the_units(installed_units: Path) -> None:
    analyze = tool("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian: apt-get install systemd)")
    units = [str(installed_units / unit.name) for unit in UNITS]
    result = subprocess.run(
        [analyze, "verify", *units], capture_output=True, text=True, timeout=120, check=False
    )
    # systemd ignores a line it cannot parse with a warning: none is allowed.
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", result.stderr
    for unit in units:
        security = subprocess.run(
            [analyze, "security", "--offline=yes", unit],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", security.stdout)
        if security.returncode != 0 and found is None:
            continue  # a systemd older than 250 has no offline security check
        assert found is not None, security.stdout + security.stderr
        assert float(found.group(1)) <= 2.0, security.stdout


def _wait_http(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + WAIT
    while True:
        if process.poll() is not None:
            raise AssertionError("exited: " + log.read_text(errors="replace"))
        try:
            return httpx.get(url, timeout=2)
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise AssertionError("no answer: " + log.read_text(errors="replace")) from None
            time.sleep(0.1)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUIETLINE_")}
    return {**env, **extra}


@pytest.mark.slow
def test_the_relay_units_command_line_runs(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    state = tmp_path / "state"
    args = exec_start(
        RELAY_UNIT,
        **{
            "${STATE_DIRECTORY}": str(state),
            "--port 8000": f"--port {port}",
            "--metrics-port 9464": f"--metrics-port {metrics_port}",
        },
    )
    log = tmp_path / "relay.log"
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=_clean_env())
    try:
        health = _wait_http(f"http://127.0.0.1:{port}/v1/health", process, log)
        assert health.json() == {"status": "ok"}
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
        assert "quietline_messages_stored_total" in scraped.text
        assert (state / "relay.db").is_file()
        assert (state.stat().st_mode & 0o777) == 0o700
    finally:
        stop_process(process)


@pytest.fixture
def enrolled_keystore(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    folder = tmp_path / "relay"
    folder.mkdir()
    relay = start_relay(folder, **FUNCTIONAL_LIMITS)
    try:
        keystore = tmp_path / "state" / "keystore"
        keystore.parent.mkdir(mode=0o700)
        result = subprocess.run(
            [
                QUIETLINE, "program", "init", "--keystore", str(keystore),
                "--relay", relay.url, f"--enrollment-token={relay.add_program()}",
            ],
            capture_output=True, text=True, timeout=120, check=False,
            env=_clean_env(QUIETLINE_PASSPHRASE=PASSPHRASE),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        yield keystore, relay.url
    finally:
        relay.stop()


@pytest.mark.slow
def test_the_program_units_command_line_reads_its_credential(
    tmp_path: Path, enrolled_keystore: tuple[Path, str]
) -> None:
    """As systemd hands it over: a file only the service's user can read (0400), in a
    folder named by $CREDENTIALS_DIRECTORY; no passphrase in the environment, no
    terminal to ask on."""
    keystore, _relay_url = enrolled_keystore
    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    secret = credentials / "keystore-passphrase"
    secret.write_text(PASSPHRASE + "\n", encoding="utf-8")
    secret.chmod(0o400)
    port = free_port()
    args = exec_start(
        PROGRAM_UNIT,
        **{
            "/var/lib/quietline-program/keystore": str(keystore),
            "${CREDENTIALS_DIRECTORY}": str(credentials),
            "--port 8100": f"--port {port}",
        },
    )
    log = tmp_path / "node.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=_clean_env(CREDENTIALS_DIRECTORY=str(credentials)),
        )
    try:
        answer = _wait_http(f"http://127.0.0.1:{port}/", process, log)
        assert answer.status_code < 500
    finally:
        stop_process(process)
    assert PASSPHRASE not in log.read_text(errors="replace")


@pytest.mark.slow
def test_a_credential_others_could_read_is_refused(
    tmp_path: Path, enrolled_keystore: tuple[Path, str]
) -> None:
    keystore, _relay_url = enrolled_keystore
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE, encoding="utf-8")
    secret.chmod(0o644)
    result = subprocess.run(
        [QUIETLINE, "program", "run", "--keystore", str(keystore), "--passphrase-file",
         str(secret), "--port", str(free_port())],
        capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
        env=_clean_env(),
    )  # fmt: skip
    assert result.returncode != 0
    assert "can be read by others" in result.stderr


def test_a_credential_on_tmpfs_with_an_acl_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where systemd cannot use ramfs it writes a credential on tmpfs as root's, mode
    0400 plus an ACL entry for the service's user: the group bits then read 0440. Taken
    from $CREDENTIALS_DIRECTORY only; never one others could read or anyone write."""
    from client_sdk.keystore_cli import PassphraseFileError, read_passphrase_file

    credentials = tmp_path / "credentials"
    credentials.mkdir(mode=0o700)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    inside, outside = credentials / "keystore-passphrase", tmp_path / "keystore-passphrase"
    for path in (inside, outside):
        path.write_text(PASSPHRASE + "\n", encoding="utf-8")
        path.chmod(0o440)
    assert read_passphrase_file(inside) == PASSPHRASE
    with pytest.raises(PassphraseFileError, match="can be read by others"):
        read_passphrase_file(outside)
    for mode in (0o444, 0o460, 0o442):
        inside.chmod(mode)
        with pytest.raises(PassphraseFileError, match="can be read by others"):
            read_passphrase_file(inside)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "relative/folder")
    inside.chmod(0o440)
    with pytest.raises(PassphraseFileError, match="can be read by others"):
        read_passphrase_file(inside)
