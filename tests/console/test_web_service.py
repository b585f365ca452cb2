"""The console as an operator runs it: ``quietline program run`` over TLS, in Chromium.

A relay process, a program made with ``quietline program init``, a worker added with
``quietline program staff add`` and the service started as its own process with a
self-signed certificate for 127.0.0.1 (made here). Chromium signs in over https: the
session cookie is ``Secure``, ``HttpOnly`` and ``SameSite=Strict``, the live socket runs
over wss, going on shift opens the line, and signing out leaves no session cookie.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from chromium import page_errors
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from loading import load
from playwright.sync_api import Browser, expect
from relay_process import (
    FUNCTIONAL_LIMITS,
    ROOT,
    RelayProcess,
    free_port,
    start_relay,
    stop_process,
)

harness = load("quietline_console_web_harness", "console/web_harness.py")
PASSWORD = "noor's long password"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "console.pem", tmp / "console.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def quietline(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = dict(os.environ, QUIETLINE_PASSPHRASE=harness.PASSPHRASE, **env)
    return subprocess.run(
        [sys.executable, "-m", "quietline", *args],
        capture_output=True, text=True, env=full, cwd=ROOT, timeout=120, check=False,
    )  # fmt: skip


@dataclass
class Service:
    url: str
    relay: RelayProcess


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    tmp = tmp_path_factory.mktemp("console-service")
    relay = start_relay(tmp, **FUNCTIONAL_LIMITS)
    proc: subprocess.Popen[bytes] | None = None
    log = tmp / "service.log"
    try:
        enrolled = harness.live_mod.enroll_program(relay, tmp, harness.profile("http://x.test"))
        ks = str(enrolled.keystore)
        added = quietline("program", "staff", "add", "Noor", "--role", "worker",
                          "--keystore", ks, QUIETLINE_STAFF_PASSWORD=PASSWORD)  # fmt: skip
        assert added.returncode == 0, added.stderr
        cert, key = self_signed(tmp)
        port = free_port()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "quietline", "program", "run", "--keystore", ks,
                 "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)],
                stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                env=dict(os.environ, QUIETLINE_PASSPHRASE=harness.PASSPHRASE),
            )  # fmt: skip
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(url + "/healthz", verify=False, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield Service(url, relay)
    finally:
        if proc is not None:
            stop_process(proc)
        relay.stop()


def test_program_run_over_tls_in_chromium(browser: Browser, service: Service) -> None:
    context = browser.new_context(ignore_https_errors=True)
    try:
        page = context.new_page()
        errors = page_errors(page)
        sockets: list[str] = []
        page.on("websocket", lambda ws: sockets.append(ws.url))
        harness.sign_in(page, service.url, "Noor", PASSWORD)
        [cookie] = [c for c in context.cookies() if c["name"] == "quietline_console"]
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        page.get_by_role("button", name="Go on shift").click()
        expect(page.get_by_role("button", name="Go off shift")).to_be_visible()
        expect(page.locator("#line-state")).to_contain_text("Line open · 1 on shift")
        assert sockets and all(u.startswith("wss://127.0.0.1:") for u in sockets), sockets
        page.get_by_role("button", name="Go off shift").click()
        # open hours, nobody on shift: participants are told the line is busy
        expect(page.locator("#line-state")).to_contain_text("Line busy · 0 on shift")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(service.url + "/signin?reason=signed_out")
        assert [c["name"] for c in context.cookies()] in ([], ["quietline_signin"])
        assert errors == []
    finally:
        context.close()
