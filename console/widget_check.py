"""Can this page reach the relay? ``quietline widget check URL`` and the console's
"Check a page", with the reason when it cannot.

:func:`check_page` fetches the page (one HTTP(S) GET, :data:`TIMEOUT` seconds,
at most :data:`MAX_PAGE` bytes, no cookies), finds the widget's snippet and checks, in
the order a browser meets them:

1. ``snippet_missing`` / ``snippet_incomplete``: no ``data-quietline`` container, or one
   without the relay, program id or identity key;
2. ``wrong_program`` / ``wrong_key`` / ``wrong_relay``: the snippet names another
   program, identity key or relay than this node's (when the node is known), or a
   program id that does not belong to the identity key;
3. ``csp_connect_src``: the page's Content-Security-Policy does not let it connect to
   the relay (``connect-src``, or ``default-src`` when there is none);
4. ``sri_mismatch`` / ``file_missing``: a widget file the snippet pins
   (``integrity="sha384-..."``, the import map's ``integrity``) is not served with that
   hash, so the browser refuses to run it;
5. ``origin_not_registered``: the relay does not admit requests from the page's origin
   (asked the way the browser asks: ``GET /v1/programs/{id}`` with ``Origin``), so
   the browser blocks its answers (``quietline program origins add``);
6. ``relay_unreachable``: the relay did not answer.

Nothing about the page is stored; the relay sees one anonymous request like a visitor's.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import InvalidKey, MalformedInput
from e2ee.identity import program_id_for

__all__ = ["MAX_PAGE", "TIMEOUT", "Expected", "Problem", "check_page", "page_origin"]

TIMEOUT = 10.0
MAX_PAGE = 2 * 1024 * 1024


@dataclass(frozen=True)
class Expected:
    """What this node would put in the snippet (``None``: not known, not compared)."""

    relay: str | None = None
    program_id: str | None = None
    identity_key: str | None = None


@dataclass(frozen=True)
class Problem:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass
class _Snippet:
    attrs: dict[str, str] | None = None
    scripts: list[dict[str, str]] = field(default_factory=list)
    styles: list[dict[str, str]] = field(default_factory=list)
    import_maps: list[str] = field(default_factory=list)
    csp_meta: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = _Snippet()
        self._in_import_map = False
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if "data-quietline" in a and self.found.attrs is None:
            self.found.attrs = a
        if tag == "script":
            if a.get("type") == "importmap":
                self._in_import_map, self._text = True, []
            elif a.get("src"):
                self.found.scripts.append(a)
        if tag == "link" and "stylesheet" in a.get("rel", "").split() and a.get("href"):
            self.found.styles.append(a)
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.found.csp_meta.append(a.get("content", ""))

    def handle_data(self, data: str) -> None:
        if self._in_import_map:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_import_map:
            self.found.import_maps.append("".join(self._text))
            self._in_import_map = False


def page_origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.lower()}"


async def _get(client: httpx.AsyncClient, url: str, **headers: str) -> httpx.Response:
    """One GET, its body read up to :data:`MAX_PAGE` bytes (more is refused)."""
    async with client.stream("GET", url, headers=headers) as response:
        body = b""
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > MAX_PAGE:
                raise ValueError(f"{url} is larger than {MAX_PAGE // 1024} KiB")
        response._content = body
        return response


def _directives(policy: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for part in policy.split(";"):
        words = part.split()
        if words and words[0].lower() not in out:
            out[words[0].lower()] = words[1:]
    return out


def _csp_allows(policies: list[str], relay: str, page: str) -> bool:
    """Every policy (header and meta) lets the page connect to ``relay``."""
    scheme = relay.split(":", 1)[0] + ":"
    for policy in policies:
        d = _directives(policy)
        sources = d.get("connect-src", d.get("default-src"))
        if sources is None:
            continue
        allowed = {s.strip().rstrip("/").lower() for s in sources}
        if not (allowed & {"*", relay.lower(), scheme} or ("'self'" in allowed and page == relay)):
            return False
    return True


def _sri_ok(integrity: str, body: bytes) -> bool:
    for token in integrity.split():
        algo, _, value = token.partition("-")
        if algo in ("sha256", "sha384", "sha512"):
            digest = hashlib.new(algo, body).digest()
            if base64.b64encode(digest).decode("ascii") == value:
                return True
    return False


def _pinned(found: _Snippet, base: str) -> list[tuple[str, str]]:
    """(absolute URL, integrity) of every widget file the page pins."""
    pinned: list[tuple[str, str]] = []
    for tag in found.scripts + found.styles:
        src = tag.get("src") or tag.get("href") or ""
        if "quietline" in src and tag.get("integrity"):
            pinned.append((urljoin(base, src), tag["integrity"]))
    for text in found.import_maps:
        try:
            entries = json.loads(text).get("integrity", {})
        except (ValueError, AttributeError):
            continue
        if isinstance(entries, dict):
            pinned += [(urljoin(base, str(k)), str(v)) for k, v in entries.items()]
    return pinned


def _snippet_problems(attrs: dict[str, str] | None, expected: Expected) -> list[Problem]:
    if attrs is None:
        return [
            Problem(
                "snippet_missing",
                "The page has no Quietline snippet (no element "
                "with data-quietline). Paste the snippet `quietline widget snippet` prints.",
            )
        ]
    missing = [
        k for k in ("data-relay", "data-program-id", "data-identity-key") if not attrs.get(k)
    ]
    if missing:
        return [
            Problem(
                "snippet_incomplete",
                f"The snippet has no {', '.join(missing)}. Paste it again as printed.",
            )
        ]
    problems = []
    try:
        derived = b64u_encode(program_id_for(b64u_decode(attrs["data-identity-key"])))
    except (MalformedInput, InvalidKey):
        derived = None
    if derived != attrs["data-program-id"]:
        problems.append(
            Problem(
                "wrong_key",
                "The snippet's program id does not belong to its "
                "identity key. Paste the snippet again as printed.",
            )
        )
    if expected.program_id and attrs["data-program-id"] != expected.program_id:
        problems.append(
            Problem(
                "wrong_program",
                f"The snippet names program "
                f"{attrs['data-program-id']}, not this program ({expected.program_id}).",
            )
        )
    elif expected.identity_key and attrs["data-identity-key"] != expected.identity_key:
        problems.append(
            Problem(
                "wrong_key",
                "The snippet pins another identity key than "
                "this program's. Paste the snippet again as printed.",
            )
        )
    relay = _origin_of(attrs["data-relay"])
    if expected.relay and relay != _origin_of(expected.relay):
        problems.append(
            Problem(
                "wrong_relay",
                f"The snippet names the relay {attrs['data-relay']}, "
                f"not this program's relay ({expected.relay}).",
            )
        )
    return problems


async def check_page(url: str, expected: Expected | None = None) -> dict[str, Any]:
    """Check ``url``: ``{"url", "origin", "ok", "problems": [{code, message}], "passed"}``."""
    expected = expected or Expected()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            "The page's address must start with https:// (or http:// on this machine)."
        )
    problems: list[Problem] = []
    passed: list[str] = []
    async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=True, max_redirects=3) as client:
        try:
            page = await _get(client, url)
        except (httpx.HTTPError, ValueError) as exc:
            return _result(
                url,
                url,
                [
                    Problem(
                        "page_unreachable",
                        f"The page could not be fetched: {exc or type(exc).__name__}.",
                    )
                ],
                [],
            )
        final = str(page.url)
        if page.status_code != 200:
            problems.append(Problem("page_unreachable", f"The page answered {page.status_code}."))
            return _result(url, final, problems, passed)
        parser = _Parser()
        parser.feed(page.content.decode(page.encoding or "utf-8", errors="replace"))
        found = parser.found
        snippet = _snippet_problems(found.attrs, expected)
        problems += snippet
        if found.attrs is None or any(p.code == "snippet_incomplete" for p in snippet):
            return _result(url, final, problems, passed)
        passed.append("snippet")
        relay = _origin_of(found.attrs["data-relay"]) or found.attrs["data-relay"]
        origin = page_origin(final)
        policies = page.headers.get_list("content-security-policy") + found.csp_meta
        if _csp_allows(policies, relay, origin):
            passed.append("csp")
        else:
            problems.append(
                Problem(
                    "csp_connect_src",
                    f"The page's Content-Security-Policy "
                    f"does not allow connecting to the relay: add {relay} to "
                    "connect-src (the snippet's headers show the policy).",
                )
            )
        sri_ok = True
        for file_url, integrity in _pinned(found, final):
            try:
                served = await _get(client, file_url)
            except (httpx.HTTPError, ValueError):
                served = None
            if served is None or served.status_code != 200:
                problems.append(
                    Problem("file_missing", f"The widget file {file_url} is not served.")
                )
                sri_ok = False
            elif not _sri_ok(integrity, served.content):
                problems.append(
                    Problem(
                        "sri_mismatch",
                        f"The widget file {file_url} does not "
                        "match the hash in the snippet, so the browser will not "
                        "run it: copy the widget files and the snippet from the "
                        "same version.",
                    )
                )
                sri_ok = False
        if sri_ok:
            passed.append("sri")
        try:
            answer = await _get(
                client, f"{relay}/v1/programs/{found.attrs['data-program-id']}", origin=origin
            )
        except (httpx.HTTPError, ValueError):
            problems.append(Problem("relay_unreachable", f"The relay {relay} did not answer."))
            return _result(url, final, problems, passed)
        if answer.headers.get("access-control-allow-origin") == origin:
            passed.append("origin")
        else:
            problems.append(
                Problem(
                    "origin_not_registered",
                    f"The relay does not admit pages "
                    f"from {origin}: add it with `quietline program origins add "
                    f"{origin}` (or on the console's Website page).",
                )
            )
        if answer.status_code != 200:
            problems.append(
                Problem(
                    "relay_refused",
                    f"The relay does not know this program (it answered {answer.status_code}).",
                )
            )
    return _result(url, final, problems, passed)


def _result(url: str, final: str, problems: list[Problem], passed: list[str]) -> dict[str, Any]:
    return {
        "url": url,
        "origin": page_origin(final),
        "ok": not problems,
        "problems": [p.to_dict() for p in problems],
        "passed": passed,
    }
