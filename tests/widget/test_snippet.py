"""`quietline widget snippet` and `quietline widget serve` (no browser).

The snippet is what a program pastes into its own website: it must pin the identity key,
carry Subresource Integrity hashes that match the files byte for byte, keep the fallback
text readable and inert, and come with a CSP whose connect-src names only the relay.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from loading import load

from quietline import widget_cli

harness = load("quietline_widget_harness", "widget/widget_harness.py")

IDENTITY = harness.Identity(bytes(range(32)))
WIDGET = Path(widget_cli.__file__).resolve().parents[1] / "widget"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "quietline", "widget", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def snippet_args(**over: str) -> list[str]:
    opts = {
        "--program-id": IDENTITY.program_id_b64u,
        "--identity-key": IDENTITY.identity_key_b64u,
        "--relay": "https://relay.example.org",
    }
    opts.update(over)
    out = ["snippet"]
    for k, v in opts.items():
        out += [k, v]
    return out


def sha384(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def test_snippet_pins_key_relay_and_program() -> None:
    result = run(*snippet_args(), "--fallback", "Call 1-800-555-0100")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'data-relay="https://relay.example.org"' in out
    assert f'data-program-id="{IDENTITY.program_id_b64u}"' in out
    assert f'data-identity-key="{IDENTITY.identity_key_b64u}"' in out
    assert "Call 1-800-555-0100" in out


def _identity_whose_ids_begin_with_a_dash() -> harness.Identity:
    """The first fixed seed whose identity key and program id both begin with "-"."""
    for n in range(1_000_000):
        identity = harness.Identity(n.to_bytes(32, "big"))
        if identity.identity_key_b64u[0] == identity.program_id_b64u[0] == "-":
            return identity
    raise AssertionError("no such seed")  # pragma: no cover


def test_ids_that_begin_with_a_dash_work_written_apart_as_the_docs_show() -> None:
    """Base64url ids begin with "-" one time in 64: ``--identity-key -Xy...`` is still
    the key (argparse alone would take it for an unknown option)."""
    dashed = _identity_whose_ids_begin_with_a_dash()
    result = run(
        *snippet_args(
            **{"--program-id": dashed.program_id_b64u, "--identity-key": dashed.identity_key_b64u}
        )
    )
    assert result.returncode == 0, result.stderr
    assert f'data-program-id="{dashed.program_id_b64u}"' in result.stdout
    assert f'data-identity-key="{dashed.identity_key_b64u}"' in result.stdout


def test_every_widget_file_has_a_matching_sha384() -> None:
    """The entry tag and the import map pin every file, and the CSP pins the import map."""
    out = run(*snippet_args(), "--base-url", "/chat/files").stdout
    imap = re.search(r'<script type="importmap">(.+?)</script>', out)
    assert imap is not None
    imap_text = imap.group(1)
    pinned = {
        k.removeprefix("/chat/files/"): v for k, v in json.loads(imap_text)["integrity"].items()
    }
    entry = re.search(
        r'<script type="module" src="/chat/files/quietline-widget.js" '
        r'integrity="(sha384-[^"]+)"',
        out,
    )
    css = re.search(r'href="/chat/files/quietline-widget.css" integrity="(sha384-[^"]+)"', out)
    assert entry and css
    pinned["quietline-widget.js"] = entry.group(1)
    pinned["quietline-widget.css"] = css.group(1)
    expected = {
        p.relative_to(WIDGET).as_posix() for p in WIDGET.rglob("*.js") if "sample" not in p.parts
    }
    expected.add("quietline-widget.css")
    assert set(pinned) == expected
    for name, integrity in pinned.items():
        assert integrity == sha384(WIDGET / name), name
    imap_hash = base64.b64encode(hashlib.sha256(imap_text.encode()).digest()).decode()
    assert f"'sha256-{imap_hash}'" in out  # the CSP allows this import map and no other
    assert "onclick" not in out and "<script>" not in out  # nothing else inline


def test_csp_allows_connections_to_the_relay_only() -> None:
    out = run(*snippet_args(**{"--relay": "https://relay.example.org/"})).stdout
    csp = re.search(r"^Content-Security-Policy: (.+)$", out, re.M)
    assert csp is not None
    directives = {d.split()[0]: d.split()[1:] for d in csp.group(1).split("; ")}
    assert directives["connect-src"] == ["https://relay.example.org", "wss://relay.example.org"]
    assert directives["default-src"] == ["'none'"]
    assert directives["script-src"][0] == "'self'"
    assert directives["script-src"][1].startswith("'sha256-")
    assert len(directives["script-src"]) == 2
    assert directives["worker-src"] == ["'none'"]
    assert directives["require-trusted-types-for"] == ["'script'"]
    assert directives["trusted-types"] == ["'none'"]
    assert "unsafe-inline" not in csp.group(1) and "unsafe-eval" not in csp.group(1)
    assert re.search(r"^Referrer-Policy: no-referrer$", out, re.M)


def test_csp_names_an_absolute_base_url_for_code() -> None:
    snippet = widget_cli.build_snippet(
        widget_cli.WidgetConfig(
            relay="http://127.0.0.1:8000",
            program_id=IDENTITY.program_id_b64u,
            identity_key=IDENTITY.identity_key_b64u,
            base_url="https://www.program.example/w",
        )
    )
    assert "script-src https://www.program.example 'sha256-" in snippet.csp
    assert "connect-src http://127.0.0.1:8000 ws://127.0.0.1:8000;" in snippet.csp
    assert 'src="https://www.program.example/w/quietline-widget.js"' in snippet.html


def test_fallback_text_is_escaped() -> None:
    out = run(*snippet_args(), "--fallback", '<img src=x onerror="alert(1)"> & more').stdout
    assert "<img" not in out
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; more" in out


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"--identity-key": "AAAA"}, "--identity-key must encode 32 bytes"),
        ({"--identity-key": "not base64!"}, "--identity-key must be base64url"),
        ({"--program-id": "AAAAAAAAAAAAAAAAAAAAAA"}, "does not belong to --identity-key"),
        ({"--relay": "ftp://relay.example.org"}, "--relay must be an http(s) URL"),
        ({"--relay": "https://relay.example.org/v1"}, "--relay must be the relay's origin"),
    ],
)
def test_bad_options_are_refused(override: dict[str, str], message: str) -> None:
    result = run(*snippet_args(**override))
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_empty_fallback_and_script_exit_url_are_refused() -> None:
    assert "at least one other way" in run(*snippet_args(), "--fallback", "  ").stderr
    result = run(*snippet_args(), "--exit-url", "javascript:alert(1)")
    assert result.returncode == 2 and "--exit-url" in result.stderr


def test_serve_sends_the_csp_and_serves_only_widget_files() -> None:
    with harness.widget_serve("http://127.0.0.1:9", IDENTITY) as base, httpx.Client() as client:
        page = client.get(base + "/")
        assert page.status_code == 200
        expected = widget_cli.build_snippet(
            widget_cli.WidgetConfig(
                relay="http://127.0.0.1:9",
                program_id=IDENTITY.program_id_b64u,
                identity_key=IDENTITY.identity_key_b64u,
                fallback=harness.FALLBACK_LINES,
                exit_url="/neutral.html",
            )
        )
        assert page.headers["content-security-policy"] == expected.csp
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        assert "set-cookie" not in page.headers
        assert expected.html in page.text
        entry = client.get(base + "/widget/quietline-widget.js")
        assert entry.headers["content-type"].startswith("text/javascript")
        assert entry.content == (WIDGET / "quietline-widget.js").read_bytes()
        assert client.get(base + "/widget/../pyproject.toml").status_code == 404
        assert client.get(base + "/widget/%2e%2e/pyproject.toml").status_code == 404
        assert client.get(base + "/anything-else").status_code == 404
        assert client.get(base + "/neutral.html").status_code == 200


def test_main_in_process_prints_snippet_and_headers(capsys: pytest.CaptureFixture[str]) -> None:
    assert widget_cli.main([*snippet_args(), "--fallback", "Call 555-0100"]) == 0
    out = capsys.readouterr().out
    assert '<section class="quietline" data-quietline' in out
    assert "Content-Security-Policy: default-src 'none';" in out
    assert widget_cli.main(snippet_args(**{"--relay": "nope"})) == 2
    assert "--relay must be an http(s) URL" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("key", "message"),
    [("abcde", "--identity-key must be base64url"), ("AAAA", "--identity-key must encode 32")],
)
def test_serve_refuses_a_bad_identity_key_before_serving(
    capsys: pytest.CaptureFixture[str], key: str, message: str
) -> None:
    """Without --program-id, serve derives it from the key; a bad key is exit status 2
    with one line naming it (never a traceback), and no server is started."""
    assert widget_cli.main(["serve", "--identity-key", key, "--port", "0"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.count("\n") == 1
    assert captured.out == ""


def test_preview_handler_in_process() -> None:
    """The preview server's handler, run in this process on a loopback port."""
    import http.server
    import threading

    config = widget_cli.WidgetConfig(
        relay="http://127.0.0.1:9",
        program_id=IDENTITY.program_id_b64u,
        identity_key=IDENTITY.identity_key_b64u,
        exit_url="/neutral.html",
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), widget_cli.make_handler(config))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with httpx.Client() as client:
            page = client.get(base + "/index.html")
            assert page.status_code == 200 and "data-quietline" in page.text
            assert page.headers["x-content-type-options"] == "nosniff"
            css = client.get(base + "/widget/quietline-widget.css")
            assert css.headers["content-type"].startswith("text/css")
            assert client.get(base + "/widget/ui").status_code == 404  # a directory
            assert client.get(base + "/widget/sample/index.html").status_code == 200
            assert client.get(base + "/widget/nothing.js").status_code == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_path_prints_the_folder_of_the_widget_files() -> None:
    result = run("path")
    assert result.returncode == 0, result.stderr
    folder = Path(result.stdout.strip())
    assert folder.resolve() == WIDGET.resolve()
    assert (folder / "quietline-widget.js").is_file()


def test_reconnect_window_is_a_snippet_setting_of_at_least_two_minutes() -> None:
    default = run(*snippet_args(), "--fallback", "Call 555-0100")
    assert 'data-reconnect-seconds="120"' in default.stdout
    longer = run(*snippet_args(), "--fallback", "Call 555-0100", "--reconnect-seconds", "300")
    assert longer.returncode == 0 and 'data-reconnect-seconds="300"' in longer.stdout
    short = run(*snippet_args(), "--fallback", "Call 555-0100", "--reconnect-seconds", "60")
    assert short.returncode == 2 and "--reconnect-seconds" in short.stderr
