"""The console's web app against a real relay and a real ConsoleNode: headers, cookies,
sign-in and its throttling, CSRF, idle sign-out, the WebSocket's checks, and a worker who
forges another worker's conversation id. HTTP through httpx, the socket through the
``websockets`` client, both to uvicorn on 127.0.0.1 (tests/console/web_harness.py)."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from loading import load
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from console.web.headers import CSP
from console.web.state import SESSION_COOKIE

harness = load("quietline_console_web_harness", "console/web_harness.py")
PASSWORD: str = harness.PASSWORD
STAFF = [
    ("Sam", "worker"),
    ("Alex", "worker"),
    ("Kim", "supervisor"),
    ("Ada", "admin"),
    ("Lee", "worker"),
]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with harness.console_stack(tmp_path_factory.mktemp("console-web"), STAFF) as s:
        yield s


@pytest.fixture
def http(stack: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=stack.url, follow_redirects=False, timeout=20) as client:
        yield client


def signin(client: httpx.Client, name: str, password: str = PASSWORD) -> httpx.Response:
    page = client.get("/signin")
    token = re.search(r'name="token" value="([^"]+)"', page.text)
    assert token is not None
    return client.post(
        "/signin", data={"token": token.group(1), "name": name, "password": password}
    )


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/")
    assert page.status_code == 200, page.status_code
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text)
    assert found is not None
    return found.group(1)


def new_client(stack: Any) -> httpx.Client:
    return httpx.Client(base_url=stack.url, follow_redirects=False, timeout=20)


class Socket:
    """The console's WebSocket as a browser opens it (cookie, Origin, hello)."""

    def __init__(self, stack: Any, client: httpx.Client, *, origin: str | None = None) -> None:
        cookie = client.cookies.get(SESSION_COOKIE)
        headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {}
        self._opened = connect(
            stack.url.replace("http://", "ws://") + "/ws",
            origin=origin or stack.url,  # type: ignore[arg-type]
            additional_headers=headers,
            open_timeout=10,
        )
        self.ws: ClientConnection = self._opened.__enter__()
        self.frames: list[dict[str, Any]] = []
        self.req = 0

    def hello(self, csrf: str) -> None:
        self.ws.send(json.dumps({"op": "hello", "csrf": csrf}))

    def recv(self, timeout: float = 15) -> dict[str, Any]:
        return dict(json.loads(self.ws.recv(timeout=timeout)))

    def wait(self, predicate: Any, timeout: float = 15) -> dict[str, Any]:
        for frame in self.frames:
            if predicate(frame):
                self.frames.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            frame = self.recv(left)
            if predicate(frame):
                return frame
            self.frames.append(frame)
        raise AssertionError("no matching frame in time")

    def request(self, op: str, **args: Any) -> dict[str, Any]:
        self.req += 1
        req = self.req
        self.ws.send(json.dumps({"op": op, "req": req, **args}))
        return self.wait(lambda f: f.get("type") == "result" and f.get("req") == req)

    def close(self) -> None:
        self._opened.__exit__(None, None, None)


def signed_in_socket(stack: Any, name: str) -> tuple[httpx.Client, Socket]:
    client = new_client(stack)
    assert signin(client, name).status_code == 303
    sock = Socket(stack, client)
    sock.hello(csrf_of(client))
    assert sock.wait(lambda f: f["type"] == "setup")["saved_replies"]
    return client, sock


# -- headers ------------------------------------------------------------------------------


def _assert_headers(response: httpx.Response) -> None:
    h = response.headers
    assert h["cache-control"] == "no-store", response.url
    assert h["content-security-policy"] == CSP, response.url
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h["x-frame-options"] == "DENY"


def test_every_response_carries_no_store_and_the_strict_csp(stack: Any, http: httpx.Client) -> None:
    assert "script-src 'self';" in CSP and "style-src 'self';" in CSP
    assert "default-src 'none'" in CSP and "frame-ancestors 'none'" in CSP
    anonymous = [
        http.get(p)
        for p in (
            "/signin",
            "/",
            "/healthz",
            "/nothing-here",
            "/static/console.js",
            "/static/console.css",
        )
    ]
    anonymous.append(http.post("/signin", data={"name": "x"}))
    anonymous.append(http.post("/signout"))
    assert [r.status_code for r in anonymous] == [200, 303, 200, 404, 200, 200, 400, 303]
    assert signin(http, "Sam").status_code == 303
    signed_in = [http.get("/"), http.get("/static/view.js")]
    for response in anonymous + signed_in:
        _assert_headers(response)
    assert signed_in[1].headers["content-type"].startswith("text/javascript")
    for page in (anonymous[0], signed_in[0]):  # no inline script or style at all
        html = page.text
        assert "style=" not in html and "<style" not in html
        for tag in re.findall(r"<script[^>]*>", html):
            assert 'src="/static/' in tag and 'type="module"' in tag, tag
        assert "javascript:" not in html
        assert re.search(r"<[^>]*\son[a-z]+\s*=", html) is None  # no inline handlers


def test_a_name_made_to_point_at_loopback_gets_nothing(stack: Any, http: httpx.Client) -> None:
    """DNS rebinding: a page at evil.example whose name now resolves to 127.0.0.1."""
    for path in ("/signin", "/", "/static/console.js"):
        response = http.get(path, headers={"Host": "evil.example:8100"})
        assert response.status_code == 400, path
        _assert_headers(response)
    assert http.get("/signin", headers={"Host": "localhost"}).status_code == 200


def test_the_console_scripts_never_store_nor_parse_html() -> None:
    """No browser storage API, no HTML parsing of text, no inline style from script: the
    page's text goes in with textContent only (a transcript can hold any markup)."""
    forbidden = re.compile(
        r"localStorage|sessionStorage|indexedDB|caches\.|serviceWorker|innerHTML|outerHTML"
        r"|insertAdjacentHTML|document\.write|eval\(|new Function|\.style\.|cookie"
    )
    static = Path(__file__).resolve().parents[2] / "console" / "web" / "static"
    scripts = sorted(static.glob("*.js"))
    assert len(scripts) >= 8
    for script in scripts:
        found = forbidden.findall(script.read_text(encoding="utf-8"))
        assert found == [], (script.name, found)


# -- sign-in, cookies, throttling ---------------------------------------------------------


def _cookie_line(response: httpx.Response, name: str) -> str:
    lines = [
        v
        for k, v in response.headers.multi_items()
        if k == "set-cookie" and v.startswith(name + "=")
    ]
    assert len(lines) == 1, lines
    return lines[0]


def test_signin_sets_a_strict_httponly_cookie_and_always_a_new_session(
    stack: Any, http: httpx.Client
) -> None:
    form = http.get("/signin")
    pre = _cookie_line(form, "quietline_signin").lower()
    assert "httponly" in pre and "samesite=strict" in pre and "secure" not in pre
    response = signin(http, "Sam")
    assert response.status_code == 303 and response.headers["location"] == "/"
    line = _cookie_line(response, SESSION_COOKIE)
    low = line.lower()
    assert "httponly" in low and "samesite=strict" in low and "path=/" in low
    assert "secure" not in low  # plain http on loopback; see the TLS test
    first = http.cookies[SESSION_COOKIE]
    assert len(first) >= 43
    assert http.get("/").status_code == 200
    assert http.get("/signin").headers["location"] == "/"  # signed in already
    with new_client(stack) as other:  # a planted id is never adopted
        other.cookies.set(SESSION_COOKIE, "planted-by-someone-else", domain="127.0.0.1")
        again = signin(other, "sam")  # any case
        assert again.status_code == 303
        given = _cookie_line(again, SESSION_COOKIE).split(";")[0].split("=", 1)[1]
        assert given not in {"planted-by-someone-else", first}


def test_cookies_are_secure_when_served_over_tls(stack: Any) -> None:
    """The app sees the request's scheme (uvicorn with --tls-cert says https)."""

    async def get_form() -> httpx.Response:
        transport = httpx.ASGITransport(app=stack.server.config.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1") as c:
            return await c.get("/signin")

    form = asyncio.run(get_form())
    line = _cookie_line(form, "quietline_signin").lower()
    assert "secure" in line and "httponly" in line and "samesite=strict" in line


def test_signin_form_needs_its_own_token(stack: Any, http: httpx.Client) -> None:
    http.get("/signin")
    response = http.post("/signin", data={"token": "forged", "name": "Sam", "password": PASSWORD})
    assert response.status_code == 400 and "expired" in response.text
    assert SESSION_COOKIE not in http.cookies
    with new_client(stack) as fresh:  # no token cookie at all (another site's form)
        response = fresh.post("/signin", data={"name": "Sam", "password": PASSWORD})
        assert response.status_code == 400 and SESSION_COOKIE not in fresh.cookies


def test_refusals_have_an_error_summary_and_say_the_same_for_any_wrong_pair(
    stack: Any, http: httpx.Client
) -> None:
    empty = signin(http, "", "")
    assert empty.status_code == 400
    assert 'class="error-summary"' in empty.text and 'href="#name"' in empty.text
    assert "Enter your name" in empty.text and "Enter your password" in empty.text
    assert 'aria-invalid="true"' in empty.text
    wrong = signin(http, "Alex", "not the password at all")
    nobody = signin(http, "Nobody Here", "not the password at all")
    assert wrong.status_code == nobody.status_code == 400
    said = [re.search(r'<li><a href="#name">([^<]+)</a>', r.text) for r in (wrong, nobody)]
    assert said[0] is not None and said[1] is not None
    assert said[0].group(1) == said[1].group(1)
    hostile = signin(http, '"><script>alert(1)</script>', "not the password at all")
    assert "<script>alert(1)" not in hostile.text and "&lt;script&gt;" in hostile.text
    stack.clock.advance(minutes=10)  # let these failures leave the throttle's window


def test_signin_is_throttled_per_name_even_with_the_right_password(
    stack: Any, http: httpx.Client
) -> None:
    attempts = stack.node.settings.signin_attempts
    for _ in range(attempts):
        assert signin(http, "Alex", "wrong password here").status_code == 400
    refused = signin(http, "ALEX", PASSWORD)
    assert refused.status_code == 429
    assert "Too many tries to sign in. Wait" in refused.text and "minute" in refused.text
    assert SESSION_COOKIE not in http.cookies
    assert signin(http, "Kim").status_code == 303  # another name is not held up
    stack.clock.advance(seconds=stack.node.settings.signin_window_seconds)
    with new_client(stack) as later:
        assert signin(later, "Alex").status_code == 303


def test_signin_is_throttled_per_client_across_names(stack: Any, http: httpx.Client) -> None:
    limit = stack.node.settings.signin_attempts * 4
    for i in range(limit):
        assert signin(http, f"guess {i}", "wrong password here").status_code == 400
    assert signin(http, "Sam").status_code == 429
    stack.clock.advance(seconds=stack.node.settings.signin_window_seconds)
    assert signin(http, "Sam").status_code == 303


# -- sign-out, CSRF, idle -----------------------------------------------------------------


def test_signout_needs_the_csrf_token_and_clears_the_site(stack: Any, http: httpx.Client) -> None:
    assert signin(http, "Sam").status_code == 303
    csrf = csrf_of(http)
    assert http.post("/signout").status_code == 403
    assert http.post("/signout", data={"csrf": "forged"}).status_code == 403
    assert http.get("/").status_code == 200  # still signed in
    out = http.post("/signout", data={"csrf": csrf})
    assert out.status_code == 303 and out.headers["location"] == "/signin?reason=signed_out"
    assert out.headers["clear-site-data"] == '"cache", "storage"'
    expired = _cookie_line(out, SESSION_COOKIE).lower()
    assert "max-age=0" in expired or "expires=thu, 01 jan 1970" in expired
    assert http.get("/").status_code == 303
    assert "You have signed out." in http.get("/signin?reason=signed_out").text


def test_idle_session_ends_and_its_socket_is_told(stack: Any) -> None:
    client, sock = signed_in_socket(stack, "Kim")
    try:
        stack.clock.advance(minutes=29)
        assert client.get("/").status_code == 200  # a page load is use: the timer restarts
        stack.clock.advance(minutes=29)
        assert sock.request("touch")["ok"]  # so is an action in the page
        stack.clock.advance(minutes=29, seconds=59)
        assert client.get("/healthz").status_code == 200
        stack.clock.advance(seconds=1)
        frame = sock.wait(lambda f: f["type"] == "signed_out")
        assert frame["reason"] == "idle"
        with pytest.raises(ConnectionClosed) as closed:
            sock.recv(5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        page = client.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/signin?reason=idle"
        told = client.get(page.headers["location"]).text
        assert "not used for 30 minutes" in told
    finally:
        sock.close()
        client.close()


def test_a_disabled_account_is_signed_out_at_once_everywhere(stack: Any) -> None:
    client, sock = signed_in_socket(stack, "Lee")
    other_tab = Socket(stack, client)
    other_tab.hello(csrf_of(client))
    try:
        assert other_tab.wait(lambda f: f["type"] == "snapshot")["me"]["name"] == "Lee"
        stack.run(stack.node.disable_account(stack.staff["Ada"], stack.staff["Lee"].staff_id))
        for s in (sock, other_tab):
            assert s.wait(lambda f: f["type"] == "signed_out")["reason"] == "disabled"
            with pytest.raises(ConnectionClosed) as closed:
                s.recv(5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        page = client.get("/")
        assert page.status_code == 303 and page.headers["location"] == "/signin?reason=disabled"
        assert signin(client, "Lee").status_code == 400  # the same words as a wrong password
    finally:
        sock.close()
        other_tab.close()
        client.close()


# -- the WebSocket's own checks -------------------------------------------------------------


def test_socket_refuses_another_origin_no_session_and_a_wrong_token(stack: Any) -> None:
    client = new_client(stack)
    try:
        assert signin(client, "Sam").status_code == 303
        with pytest.raises(InvalidStatus):
            Socket(stack, client, origin="http://evil.example")
        with new_client(stack) as anonymous, pytest.raises(InvalidStatus):
            Socket(stack, anonymous)
        sock = Socket(stack, client)
        sock.hello("not the token")
        with pytest.raises(ConnectionClosed) as closed:
            sock.recv(5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        sock = Socket(stack, client)
        sock.ws.send(json.dumps({"op": "go_on_shift", "req": 1}))  # no hello first
        with pytest.raises(ConnectionClosed):
            sock.recv(5)
        sock = Socket(stack, client)
        sock.hello(csrf_of(client))
        assert sock.wait(lambda f: f["type"] == "setup")
        snap = sock.wait(lambda f: f["type"] == "snapshot")
        assert snap["me"]["name"] == "Sam" and snap["others"] == []
        bad = sock.request("no_such_action")
        assert not bad["ok"] and bad["reason"] == "bad_request"
        bad = sock.request("send", conversation_id="x")
        assert not bad["ok"] and bad["reason"] == "bad_request"
        sock.close()
    finally:
        client.close()


# -- a worker cannot reach another worker's conversation -----------------------------------


def test_a_worker_forging_another_conversation_id_gets_not_found(stack: Any) -> None:
    sam_http, sam = signed_in_socket(stack, "Sam")
    alex_http, alex = signed_in_socket(stack, "Alex")
    try:
        for s in (sam, alex):
            assert s.request("go_on_shift")["ok"]
        participant = stack.participant()
        cid = participant.cid
        sam.wait(lambda f: f["type"] == "snapshot" and any(w["id"] == cid for w in f["waiting"]))
        assert sam.request("claim", conversation_id=cid)["ok"]
        participant.call("send", "مرحبا، هذا سر")
        sam.wait(lambda f: f["type"] == "entry" and f["conversation_id"] == cid)
        unknown = secrets.token_urlsafe(16)
        attempts = [
            ("open", {}),
            ("send", {"text": "hello from Alex"}),
            ("ask_code_word", {"alias": "main"}),
            ("escalate", {}),
            ("transfer", {"to_staff_id": stack.staff["Alex"].staff_id}),
            ("end", {}),
            ("block", {}),
        ]
        for op, args in attempts:
            forged = alex.request(op, conversation_id=cid, **args)
            random = alex.request(op, conversation_id=unknown, **args)
            assert not forged["ok"] and not random["ok"], op
            if op == "block":  # a worker may not block at all: the role says so first
                assert forged["reason"] == random["reason"] == "forbidden"
            else:
                assert forged["reason"] == random["reason"] == "not_found", (op, forged)
            assert forged["error"] == random["error"], op
            assert "مرحبا" not in json.dumps(forged, ensure_ascii=False)
        assert all(
            cid not in json.dumps(f) or f["type"] == "snapshot" for f in alex.frames
        )  # Alex saw no entry of it, only the queue
        timeline = sam.request("open", conversation_id=cid)["timeline"]
        assert all("Alex" not in json.dumps(e, ensure_ascii=False) for e in timeline)
        assert stack.conversation_of(participant)["assigned_name"] == "Sam"
    finally:
        for s in (sam, alex):
            s.request("go_off_shift")
            s.close()
        sam_http.close()
        alex_http.close()


def test_two_workers_claiming_one_conversation_one_gets_it_the_other_is_told(stack: Any) -> None:
    sam_http, sam = signed_in_socket(stack, "Sam")
    alex_http, alex = signed_in_socket(stack, "Alex")
    try:
        for s in (sam, alex):
            assert s.request("go_on_shift")["ok"]
        participant = stack.participant()
        cid = participant.cid
        for s in (sam, alex):
            s.wait(lambda f: f["type"] == "snapshot" and any(w["id"] == cid for w in f["waiting"]))
        sam.ws.send(json.dumps({"op": "claim", "req": 900, "conversation_id": cid}))
        alex.ws.send(json.dumps({"op": "claim", "req": 900, "conversation_id": cid}))
        answers = [s.wait(lambda f: f.get("req") == 900) for s in (sam, alex)]
        assert sorted(a["ok"] for a in answers) == [False, True]
        loser = next(a for a in answers if not a["ok"])
        assert loser["reason"] == "conflict" and loser["error"]
    finally:
        for s in (sam, alex):
            s.request("go_off_shift")
            s.close()
        sam_http.close()
        alex_http.close()


def test_throttle_window_constant_matches_settings(stack: Any) -> None:
    limits = stack.server.config.app.state.web.throttle.limits
    assert limits.per_name == stack.node.settings.signin_attempts
    assert limits.window == timedelta(seconds=stack.node.settings.signin_window_seconds)
