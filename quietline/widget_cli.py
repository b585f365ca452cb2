"""`quietline widget snippet` and `quietline widget serve`.

The program hosts the widget's files on its own website; the relay never serves code
(a relay that could change the code could read the chat). `snippet` prints the HTML to
paste into the program's chat page: a container carrying the relay URL, the program id
and the pinned identity key, the fallback text (other ways to reach the program, shown
even when the relay or JavaScript is unavailable), and one tag per widget file with a
Subresource Integrity sha384 hash, so a changed file does not run. It also prints the
response headers that page should send, among them a Content-Security-Policy whose
`connect-src` names only the relay.

`serve` runs a sample program page with the widget on 127.0.0.1 for previewing and for
the browser tests, with exactly those headers. `path` prints the folder holding the
widget's files (package data when installed), for the program to copy to its site.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import html
import http.server
import json
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from client_sdk.argv import glue_values
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import InvalidKey, MalformedInput
from e2ee.identity import program_id_for

WIDGET_DIR = Path(__file__).resolve().parents[1] / "widget"
SAMPLE_DIR = WIDGET_DIR / "sample"
ENTRY = "quietline-widget.js"
STYLESHEET = "quietline-widget.css"
DEFAULT_BASE_URL = "/widget/"
DEFAULT_EXIT_URL = "https://www.wikipedia.org/"
DEFAULT_FALLBACK = ("If you are in danger now, call your local emergency number.",)
SNIPPET_MARKER = "<!-- QUIETLINE-SNIPPET -->"
PREVIEW_EXIT_URL = "/neutral.html"


class SnippetError(ValueError):
    """A snippet option is malformed; the message says which and why."""


# How long the widget keeps trying to reconnect through a dead spot before it offers
# "Try again" (it never ends the chat by itself); at least two minutes.
DEFAULT_RECONNECT_SECONDS = 120
MIN_RECONNECT_SECONDS = 120
MAX_RECONNECT_SECONDS = 3600


@dataclass(frozen=True)
class WidgetConfig:
    """What the program pins into its own page. Nothing here is secret."""

    relay: str
    program_id: str
    identity_key: str
    fallback: tuple[str, ...] = DEFAULT_FALLBACK
    base_url: str = DEFAULT_BASE_URL
    exit_url: str = DEFAULT_EXIT_URL
    reconnect_seconds: int = DEFAULT_RECONNECT_SECONDS


@dataclass(frozen=True)
class Snippet:
    html: str
    headers: tuple[tuple[str, str], ...]

    @property
    def csp(self) -> str:
        return dict(self.headers)["Content-Security-Policy"]


def _origin(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise SnippetError(f"{what} must be an http(s) URL, got {url!r}")
    if parts.username or parts.password:
        raise SnippetError(f"{what} must not carry a user name or password")
    return f"{parts.scheme}://{parts.netloc}"


def _relay_origin(url: str) -> str:
    origin = _origin(url, "--relay")
    parts = urlsplit(url)
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise SnippetError("--relay must be the relay's origin, e.g. https://relay.example.org")
    return origin


def _b64u_bytes(text: str, size: int, what: str) -> bytes:
    try:
        raw = b64u_decode(text)
    except MalformedInput:
        raise SnippetError(f"{what} must be base64url without padding") from None
    if len(raw) != size:
        raise SnippetError(f"{what} must encode {size} bytes, got {len(raw)}")
    return raw


def validate(config: WidgetConfig) -> WidgetConfig:
    """Check every option; return the config with the relay URL reduced to its origin."""
    identity_key = _b64u_bytes(config.identity_key, 32, "--identity-key")
    program_id = _b64u_bytes(config.program_id, 16, "--program-id")
    if program_id != program_id_for(identity_key):
        raise SnippetError("--program-id does not belong to --identity-key")
    relay = _relay_origin(config.relay)
    if urlsplit(config.exit_url).scheme not in {"", "http", "https"} or not config.exit_url:
        raise SnippetError("--exit-url must be an http(s) URL or a path on this site")
    base = config.base_url if config.base_url.endswith("/") else config.base_url + "/"
    if urlsplit(base).scheme not in {"", "http", "https"}:
        raise SnippetError("--base-url must be a path or an http(s) URL")
    fallback = tuple(line.strip() for line in config.fallback if line.strip())
    if not fallback:
        raise SnippetError("--fallback must give at least one other way to reach the program")
    if not MIN_RECONNECT_SECONDS <= config.reconnect_seconds <= MAX_RECONNECT_SECONDS:
        raise SnippetError(
            f"--reconnect-seconds must be between {MIN_RECONNECT_SECONDS} and "
            f"{MAX_RECONNECT_SECONDS}"
        )
    return WidgetConfig(
        relay,
        config.program_id,
        config.identity_key,
        fallback,
        base,
        config.exit_url,
        config.reconnect_seconds,
    )


def widget_files(root: Path = WIDGET_DIR) -> list[str]:
    """Every module the widget may import, relative to ``root``, entry last."""
    files = sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*.js")
        if "sample" not in p.relative_to(root).parts
    )
    files.remove(ENTRY)
    return [*files, ENTRY]


def sri(path: Path) -> str:
    """The Subresource Integrity value of one file (sha384)."""
    digest = hashlib.sha384(path.read_bytes()).digest()
    return "sha384-" + base64.b64encode(digest).decode("ascii")


def import_map(config: WidgetConfig, root: Path = WIDGET_DIR) -> str:
    """An import map whose `integrity` section pins every module the entry imports.

    The entry's own tag carries `integrity`; the modules it imports are checked against
    this map (a `modulepreload` hash is not enough: Chromium refetches a module whose
    preload failed, without the hash). Its text is also hashed into the CSP, so the
    page needs no `unsafe-inline`.
    """
    entries = {config.base_url + name: sri(root / name) for name in widget_files(root)[:-1]}
    text = json.dumps({"integrity": entries}, separators=(",", ":"), sort_keys=True)
    # Inside <script>, "</" must not appear; JSON allows escaping "/" as "\/".
    return text.replace("</", "<\\/")


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_security_policy(config: WidgetConfig, root: Path = WIDGET_DIR) -> str:
    """The policy for the chat page: code only from the program, connections only to the relay.

    `connect-src` names the relay's origin and its WebSocket form and nothing else, so
    even injected code could not send anything elsewhere. No `unsafe-inline`, no
    `unsafe-eval`; workers (and so service workers) are refused outright.
    """
    base_parts = urlsplit(config.base_url)
    code = f"{base_parts.scheme}://{base_parts.netloc}" if base_parts.scheme else "'self'"
    relay = config.relay
    ws_relay = "wss" + relay[len("https") :] if relay.startswith("https") else "ws" + relay[4:]
    return "; ".join(
        [
            "default-src 'none'",
            f"script-src {code} {_csp_hash(import_map(config, root))}",
            f"style-src {code}",
            "img-src 'self'",
            f"connect-src {relay} {ws_relay}",
            "worker-src 'none'",
            "manifest-src 'none'",
            "object-src 'none'",
            "frame-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        ]
    )


def response_headers(config: WidgetConfig, root: Path = WIDGET_DIR) -> tuple[tuple[str, str], ...]:
    return (
        ("Content-Security-Policy", content_security_policy(config, root)),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
        ("X-Content-Type-Options", "nosniff"),
    )


def build_snippet(config: WidgetConfig, root: Path = WIDGET_DIR) -> Snippet:
    """The HTML to paste and the headers to send with the page that holds it."""
    config = validate(config)
    a = html.escape
    fallback = "\n".join(f'    <p dir="auto">{a(line)}</p>' for line in config.fallback)
    lines = [
        "<!-- Quietline chat. Other ways to reach us stay readable without the chat. -->",
        '<section class="quietline" data-quietline',
        f'  data-relay="{a(config.relay)}"',
        f'  data-program-id="{a(config.program_id)}"',
        f'  data-identity-key="{a(config.identity_key)}"',
        f'  data-exit-url="{a(config.exit_url)}"',
        f'  data-reconnect-seconds="{config.reconnect_seconds}"',
        '  aria-label="Chat with a support worker">',
        '  <div class="quietline-fallback" data-quietline-fallback>',
        "    <h2>Other ways to reach us</h2>",
        fallback,
        "  </div>",
        "</section>",
        f'<link rel="stylesheet" href="{a(config.base_url + STYLESHEET)}" '
        f'integrity="{sri(root / STYLESHEET)}" crossorigin="anonymous">',
    ]
    lines.append(f'<script type="importmap">{import_map(config, root)}</script>')
    lines.append(
        f'<script type="module" src="{a(config.base_url + ENTRY)}" '
        f'integrity="{sri(root / ENTRY)}" crossorigin="anonymous"></script>'
    )
    return Snippet("\n".join(lines) + "\n", response_headers(config, root))


# -- serve ----------------------------------------------------------------------------

_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}


def sample_page(snippet: Snippet) -> str:
    template = (SAMPLE_DIR / "index.html").read_text(encoding="utf-8")
    return template.replace(SNIPPET_MARKER, snippet.html)


def make_handler(config: WidgetConfig) -> type[http.server.BaseHTTPRequestHandler]:
    """A handler serving the sample page at `/`, the widget under `/widget/`, nothing else.

    Files are read at each request, and the page's integrity hashes are computed at
    each request too, so an edited widget file is served with its new hash (preview),
    while a file changed after the page was loaded would be refused by the browser.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "quietline-widget-preview"
        sys_version = ""

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            if path in {"/", "/index.html"}:
                snippet = build_snippet(config)
                self._send(200, sample_page(snippet).encode("utf-8"), ".html", snippet.headers)
            elif path == "/neutral.html":
                self._file(SAMPLE_DIR / "neutral.html")
            elif path.startswith("/widget/"):
                self._file(WIDGET_DIR / path[len("/widget/") :])
            else:
                self._send(404, b"not found\n", ".txt")

        def _file(self, target: Path) -> None:
            resolved = target.resolve()
            if (
                WIDGET_DIR.resolve() not in resolved.parents
                or not resolved.is_file()
                or resolved.suffix not in _TYPES
            ):
                self._send(404, b"not found\n", ".txt")
                return
            self._send(200, resolved.read_bytes(), resolved.suffix, response_headers(config))

        def _send(
            self,
            status: int,
            body: bytes,
            suffix: str,
            headers: Sequence[tuple[str, str]] = (),
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", _TYPES.get(suffix, "text/plain; charset=utf-8"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in headers:
                if name != "Cache-Control":
                    self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Log nothing: no address, path or time of anyone previewing."""

    return Handler


def serve(config: WidgetConfig, port: int, ready: threading.Event | None = None) -> None:
    config = validate(config)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), make_handler(config))
    server.daemon_threads = True
    with server:
        print(f"serving http://127.0.0.1:{server.server_address[1]}/", flush=True)
        if ready is not None:
            ready.set()
        with contextlib.suppress(KeyboardInterrupt):
            server.serve_forever()


# -- command line -----------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quietline widget")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser, required: bool) -> None:
        p.add_argument("--relay", required=required, help="the relay's origin")
        p.add_argument("--program-id", required=required, help="b64u program id")
        p.add_argument(
            "--identity-key",
            required=required,
            help="the program's Ed25519 identity public key, b64u",
        )
        p.add_argument(
            "--fallback",
            action="append",
            default=None,
            metavar="TEXT",
            help="another way to reach the program (repeat for more lines)",
        )
        p.add_argument(
            "--exit-url",
            default=None,
            help="neutral site the quick exit goes to before the profile loads",
        )
        p.add_argument(
            "--reconnect-seconds",
            type=int,
            default=DEFAULT_RECONNECT_SECONDS,
            help="how long the chat keeps reconnecting through a dead spot before it "
            f"offers 'Try again' (at least {MIN_RECONNECT_SECONDS})",
        )

    snippet = sub.add_parser("snippet", help="print the HTML and headers for the chat page")
    common(snippet, required=True)
    snippet.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, help="where the program hosts the widget files"
    )

    serve_p = sub.add_parser("serve", help="serve a sample page with the widget on 127.0.0.1")
    common(serve_p, required=False)
    serve_p.add_argument("--port", type=int, default=8080)
    sub.add_parser("path", help="print the folder holding the widget's files, to copy them")
    check = sub.add_parser("check", help="can this page reach the relay? if not, why")
    check.add_argument("url", help="the page that shows the chat")
    check.add_argument("--keystore", type=Path, help="also compare with this program's settings")
    check.add_argument("--passphrase-file", type=Path, help="the keystore's passphrase file")
    check.add_argument("--json", action="store_true")
    return parser


def _check(args: argparse.Namespace) -> int:
    """`widget check URL`: 0 when the page can reach the relay, 1 with the reasons when not."""
    import asyncio

    from console import cli as console_cli
    from console.errors import ConsoleError
    from console.widget_check import check_page

    result: Any
    try:
        if args.keystore is not None:  # the admin operation: the node's own settings too
            console_cli._passphrase_file[:] = [args.passphrase_file] if args.passphrase_file else []
            result = console_cli.admin(args, "widget.check", {"url": args.url})
        else:
            result = asyncio.run(check_page(args.url))
    except (ConsoleError, ValueError, OSError) as exc:
        message = exc.message if isinstance(exc, ConsoleError) else str(exc)
        print(f"quietline widget check: {message}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    elif result["ok"]:
        print(
            f"{result['url']}: the page can reach the relay (checked: "
            f"{', '.join(result['passed'])})"
        )
    else:
        print(f"{result['url']}: the page cannot reach the relay:")
        for problem in result["problems"]:
            print(f"- {problem['message']} [{problem['code']}]")
    return 0 if result["ok"] else 1


_PREVIEW_KEY = b64u_encode(bytes(32))


def _derived_program_id(identity_key: str) -> str:
    """The program id of a b64u identity key, or "" (validate() then names the bad key)."""
    try:
        return b64u_encode(program_id_for(b64u_decode(identity_key)))
    except (MalformedInput, InvalidKey):
        return ""


def _config(args: argparse.Namespace, base_url: str, exit_default: str) -> WidgetConfig:
    identity_key = args.identity_key or _PREVIEW_KEY
    program_id = args.program_id or _derived_program_id(identity_key)
    return WidgetConfig(
        relay=args.relay or "http://127.0.0.1:8000",
        program_id=program_id,
        identity_key=identity_key,
        fallback=tuple(args.fallback) if args.fallback else DEFAULT_FALLBACK,
        base_url=base_url,
        exit_url=args.exit_url or exit_default,
        reconnect_seconds=args.reconnect_seconds,
    )


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(glue_values(words, ("--program-id", "--identity-key")))
    if args.command == "path":
        print(WIDGET_DIR)
        return 0
    if args.command == "check":
        return _check(args)
    try:
        if args.command == "snippet":
            snippet = build_snippet(_config(args, args.base_url, DEFAULT_EXIT_URL))
            print(snippet.html)
            print("<!-- Send these HTTP response headers with the page that holds the chat:")
            for name, value in snippet.headers:
                print(f"{name}: {value}")
            print("-->")
            return 0
        # Serving locally: the quick exit goes to a neutral page on the same server.
        serve(_config(args, DEFAULT_BASE_URL, PREVIEW_EXIT_URL), args.port)
        return 0
    except SnippetError as exc:
        print(f"quietline widget: {exc}", file=sys.stderr)
        return 2
