"""`quietline widget check URL` and the `widget.check` operation, against real pages served
on 127.0.0.1 and a real relay: a page that can reach the relay, and one for each reason it
cannot (origin not registered, CSP connect-src without the relay, SRI hash not matching
the served widget file, no snippet, another program's snippet)."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from node_process import PASSPHRASE

from console.admin import runner
from e2ee.encoding import b64u_encode
from e2ee.identity import IdentityKeyPair
from e2ee.primitives import system_random
from quietline import widget_cli as w

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _pages(program: Any, port: int) -> dict[str, tuple[bytes, list[tuple[str, str]]]]:
    config = w.WidgetConfig(program.relay_url, program.program_id, program.identity_key)
    good = w.build_snippet(config)
    page = w.sample_page(good).encode()
    headers = list(good.headers)
    no_relay = [(k, v.replace(f"connect-src {config.relay}", "connect-src 'self'"))
                for k, v in headers]  # fmt: skip
    entry = f'src="/widget/{w.ENTRY}" integrity="'
    start = page.index(entry.encode()) + len(entry)
    tampered = page[:start] + b"sha384-" + b"A" * 64 + page[start + 71 :]
    other = IdentityKeyPair.generate(system_random)
    stranger = w.build_snippet(
        w.WidgetConfig(
            program.relay_url, b64u_encode(other.program_id), b64u_encode(other.public_key)
        )
    )
    return {
        "/good": (page, headers),
        "/csp": (page, no_relay),
        "/sri": (tampered, headers),
        "/none": (b"<!doctype html><title>Hello</title><p>Nothing here.</p>", []),
        "/stranger": (w.sample_page(stranger).encode(), list(stranger.headers)),
    }


@pytest.fixture
def site(program: Any) -> Iterator[str]:
    pages: dict[str, tuple[bytes, list[tuple[str, str]]]] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            headers: list[tuple[str, str]] = []
            if path.startswith("/widget/"):
                target = (w.WIDGET_DIR / path[len("/widget/") :]).resolve()
                if w.WIDGET_DIR.resolve() not in target.parents or not target.is_file():
                    self.send_error(404)
                    return
                body = target.read_bytes()
            elif path in pages:
                body, headers = pages[path]
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    pages.update(_pages(program, server.server_address[1]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def check(program: Any, url: str) -> dict[str, Any]:
    result: dict[str, Any] = runner.run(program.keystore, lambda: PASSPHRASE, "widget.check",
                                        {"url": url})  # fmt: skip
    return result


def codes(result: dict[str, Any]) -> set[str]:
    return {p["code"] for p in result["problems"]}


def quietline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quietline", *args], capture_output=True, text=True, cwd=ROOT,
        timeout=120, check=False, env=dict(os.environ, QUIETLINE_PASSPHRASE=PASSPHRASE),
    )  # fmt: skip


def test_each_reason_a_page_cannot_reach_the_relay(program: Any, site: str) -> None:
    before = check(program, site + "/good")
    assert codes(before) == {"origin_not_registered"}
    assert site in before["problems"][0]["message"]
    runner.run(program.keystore, lambda: PASSPHRASE, "origins.add", {"origin": site})
    good = check(program, site + "/good")
    assert good["ok"] and good["problems"] == []
    assert set(good["passed"]) == {"snippet", "csp", "sri", "origin"}
    assert codes(check(program, site + "/csp")) == {"csp_connect_src"}
    sri = check(program, site + "/sri")
    assert codes(sri) == {"sri_mismatch"} and w.ENTRY in sri["problems"][0]["message"]
    assert codes(check(program, site + "/none")) == {"snippet_missing"}
    assert "wrong_program" in codes(check(program, site + "/stranger"))
    assert codes(check(program, site + "/missing")) == {"page_unreachable"}
    with pytest.raises(Exception, match="must start with https"):
        check(program, "ftp://example.org/")

    # the command line, with and without the keystore
    ok = quietline("widget", "check", site + "/good")
    assert ok.returncode == 0 and "can reach the relay" in ok.stdout, ok.stderr
    bad = quietline("widget", "check", site + "/csp", "--keystore", str(program.keystore))
    assert bad.returncode == 1 and "[csp_connect_src]" in bad.stdout, bad.stderr
    as_json = quietline("widget", "check", site + "/sri", "--json")
    assert as_json.returncode == 1
    assert codes(json.loads(as_json.stdout)) == {"sri_mismatch"}
    wrong = quietline("widget", "check", "not a url")
    assert wrong.returncode == 2 and "must start with https" in wrong.stderr
