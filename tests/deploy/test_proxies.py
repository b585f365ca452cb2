"""deploy/nginx and deploy/caddy, run for real in front of a real relay process: TLS
(a self-signed certificate made with openssl), the WebSocket through, X-Forwarded-For in
the one form the relay's ``--trusted-proxy`` believes, and no client address in any log.

Clients connect from 127.0.0.2 and 127.0.0.3 (loopback has all of 127/8), the proxy
reaches the relay from 127.0.0.1: so the relay's per-source limit shows which address
it took for the client. Skipped with the reason when nginx or caddy is not installed
(scripts/test installs both from Debian)."""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from deploy_helpers import DEPLOY, self_signed, substitute, tool
from relay_helpers import b64, enroll_program, make_envelope
from relay_process import RelayProcess, free_port, start_relay, stop_process

pytestmark = pytest.mark.slow

WAIT = 30.0
CLIENTS = ("127.0.0.2", "127.0.0.3")


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[RelayProcess]:
    folder = tmp_path / "relay"
    folder.mkdir()
    r = start_relay(
        folder,
        QUIETLINE_TRUSTED_PROXY="127.0.0.1",
        QUIETLINE_LIMIT_BUNDLES_PER_SOURCE="3",
        QUIETLINE_LIMIT_CONVERSATIONS_PER_SOURCE="100",
    )
    try:
        yield r
    finally:
        r.stop()


def _client(context: ssl.SSLContext, source: str) -> httpx.Client:
    return httpx.Client(
        transport=httpx.HTTPTransport(verify=context, local_address=source), timeout=10
    )


def _wait_up(
    url: str, context: ssl.SSLContext, process: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        if process.poll() is not None:
            raise AssertionError("the proxy exited: " + log.read_text(errors="replace"))
        try:
            with _client(context, CLIENTS[0]) as c:
                if c.get(url + "/v1/health").status_code == 200:
                    return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError("the proxy did not answer: " + log.read_text(errors="replace"))
        time.sleep(0.1)


def _through(relay: RelayProcess, url: str, context: ssl.SSLContext) -> dict[str, str]:
    """A program, bundle fetches and a WebSocket through the proxy; what was sent that
    must not show in a log."""

    async def program_and_socket() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=relay.url, timeout=30) as direct:
            program = await enroll_program(direct, relay.db_path, relay.url, prekeys=0)
        ws_url = url.replace("https://", "wss://") + "/v1/ws"
        async with websockets.connect(ws_url, ssl=context, compression=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": program.session}))
            assert json.loads(await asyncio.wait_for(ws.recv(), WAIT)) == {"type": "ready"}
            # a conversation opened through the proxy reaches the socket live
            cid = os.urandom(16)
            envelope = b64(make_envelope(cid, 0, 1, init=True))
            async with httpx.AsyncClient(base_url=url, verify=context, timeout=30) as c:
                r = await c.post(
                    "/v1/conversations", json={"program_id": program.pid, "envelope": envelope}
                )
                assert r.status_code == 201, r.text
                # the program sees it once its participant comes back with its token
                token = r.json()["token"]
                r = await c.get(
                    f"/v1/conversations/{b64(cid)}/messages",
                    headers={"authorization": f"Bearer {token}"},
                )
                assert r.status_code == 200, r.text
            event = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
            assert event == {"type": "conversation", "conversation_id": b64(cid)}
        return {"program": program.pid, "conversation": b64(cid)}

    sent = asyncio.run(program_and_socket())
    bundle = f"/v1/programs/{sent['program']}/bundle"
    first, second = CLIENTS
    with _client(context, first) as c:
        # Each made-up X-Forwarded-For would be a new source if the proxy passed it on.
        for n in range(3):
            r = c.post(url + bundle, headers={"x-forwarded-for": f"198.51.100.{n}"})
            assert r.status_code == 200, r.text
        r = c.post(url + bundle, headers={"x-forwarded-for": "198.51.100.9"})
        assert r.status_code == 429 and r.json()["error"]["code"] == "rate_limited"
    with _client(context, second) as c:  # ...and another client is another source
        assert c.post(url + bundle).status_code == 200
    # With the relay gone, the proxy answers 502 and its error path runs.
    relay.stop()
    with _client(context, first) as c:
        assert c.get(url + "/v1/health").status_code == 502
    return sent


def _no_address(text: str, sent: dict[str, str]) -> None:
    for secret in (*CLIENTS, "198.51.100.", "remote_ip", "client_ip", *sent.values()):
        assert secret not in text, secret


def _wait_for_text(path: Path, predicate: Callable[[str], bool]) -> str:
    deadline = time.monotonic() + WAIT
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        if predicate(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.1)


# -- nginx ---------------------------------------------------------------------------------


def test_nginx_example(tmp_path: Path, relay: RelayProcess) -> None:
    nginx = tool("nginx")
    if nginx is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light)")
    cert, key = self_signed(tmp_path)
    https_port, http_port = free_port(), free_port()
    site = substitute(
        (DEPLOY / "nginx" / "quietline-relay.conf").read_text(encoding="utf-8"),
        {
            "    listen [::]:80;\n": "",
            "    listen [::]:443 ssl;\n": "",
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl;": f"listen 127.0.0.1:{https_port} ssl;",
            "/etc/letsencrypt/live/relay.example.org/fullchain.pem": str(cert),
            "/etc/letsencrypt/live/relay.example.org/privkey.pem": str(key),
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{relay.port};",
            # the test turns the address-free access log on, to read it
            "    access_log off;\n    # access_log /var/log/nginx/quietline-relay.access.log "
            "quietline_noaddr;": f"    access_log {tmp_path}/access.log quietline_noaddr;",
            "/var/log/nginx/quietline-relay.error.log": f"{tmp_path}/site-error.log",
        },
    )
    (tmp_path / "site.conf").write_text(site, encoding="utf-8")
    temp = "".join(
        f"{kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log warn;\n"
        f"events {{ worker_connections 64; }}\nhttp {{\n{temp}include {tmp_path}/site.conf;\n}}\n",
        encoding="utf-8",
    )
    command = [nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    checked = subprocess.run(
        [*command, "-t"], capture_output=True, text=True, timeout=60, check=False
    )
    assert checked.returncode == 0, checked.stderr
    log = tmp_path / "nginx.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*command, "-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://localhost:{https_port}"
        _wait_up(url, context, process, log)
        sent = _through(relay, url, context)
        with httpx.Client(timeout=10) as plain:  # plain HTTP is sent to HTTPS
            r = plain.get(f"http://127.0.0.1:{http_port}/v1/health")
            assert r.status_code == 301 and r.headers["location"].startswith("https://")
    finally:
        stop_process(process)
    access = _wait_for_text(tmp_path / "access.log", lambda t: t.count("\n") >= 8)
    assert "200 GET" in access and "429 POST" in access and "502 GET" in access
    assert "101 GET" in access  # the WebSocket's line, once it closed
    _no_address(access, sent)
    assert "127.0.0.1" not in access
    _no_address((tmp_path / "site-error.log").read_text(errors="replace"), sent)


# -- Caddy ---------------------------------------------------------------------------------


def test_caddy_example(tmp_path: Path, relay: RelayProcess) -> None:
    caddy = tool("caddy")
    if caddy is None:
        pytest.skip("caddy is not installed (Debian: apt-get install caddy)")
    cert, key = self_signed(tmp_path)
    https_port, http_port = free_port(), free_port()
    config = substitute(
        (DEPLOY / "caddy" / "Caddyfile").read_text(encoding="utf-8"),
        {
            "\tadmin off\n": f"\tadmin off\n\thttp_port {http_port}\n\thttps_port {https_port}\n",
            "relay.example.org {": f"localhost:{https_port} {{",
            "# tls /etc/quietline/tls/relay.crt /etc/quietline/tls/relay.key": f"tls {cert} {key}",
            "reverse_proxy 127.0.0.1:8000": f"reverse_proxy 127.0.0.1:{relay.port}",
        },
    )
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(config, encoding="utf-8")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    command = [caddy, "validate", "--config", str(caddyfile), "--adapter", "caddyfile"]
    checked = subprocess.run(
        command, capture_output=True, text=True, timeout=60, env=env, check=False
    )
    assert checked.returncode == 0, checked.stderr
    log = tmp_path / "caddy.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [caddy, "run", "--config", str(caddyfile), "--adapter", "caddyfile"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        context = ssl.create_default_context(cafile=str(cert))
        url = f"https://localhost:{https_port}"
        _wait_up(url, context, process, log)
        sent = _through(relay, url, context)
        # the 502 is logged (as an error, with its request's fields filtered)
        text = _wait_for_text(log, lambda t: "connection refused" in t)
        assert "connection refused" in text
    finally:
        stop_process(process)
    _no_address(log.read_text(errors="replace"), sent)
