"""The widget's profile rules agree with e2ee.profile: URL characters and timestamps.

Each case is parsed by widget/protocol (parseProfile, in Chromium) and by
e2ee.profile.parse_profile; both must accept or refuse it, and the expected outcome is
stated too, so that a rule changed on both sides at once is still caught.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from playwright.sync_api import Page

from e2ee import profile as prof
from e2ee.errors import QuietlineError
from e2ee_samples import URL_CHARACTERS


PROFILE = prof.Profile(
    name="Harbor",
    notice=prof.Notice(voluntary="v", choices="c", information="i", mandatory_reporting="m"),
    safety_check_in="Are you safe?",
    questions=(),
    hours=prof.Hours(timezone="UTC", weekly=()),
    alternatives=(),
    quick_exit_url="https://example.org/",
    issued_at=1_764_000_000,
)


def _body(**changes: Any) -> str:
    obj = PROFILE.to_json()
    notice = dict(obj["notice"])  # type: ignore[call-overload]
    for key in ("more_url", "more_text"):
        if key in changes:
            notice[key] = changes.pop(key)
    obj["notice"] = notice
    obj.update(changes)
    return json.dumps(obj, ensure_ascii=False)


def _python(body: str) -> str:
    try:
        prof.parse_profile(body.encode("utf-8"))
    except QuietlineError as exc:
        return type(exc).__name__
    return "ok"


def _javascript(page: Page, bodies: list[str]) -> list[str]:
    outcomes: list[str] = page.evaluate(
        """(bodies) => bodies.map((b) => {
             try { Q.parseProfile(new TextEncoder().encode(b)); return "ok"; }
             catch (e) { return e instanceof Q.QuietlineError ? e.name : "untyped " + e; }
           })""",
        bodies,
    )
    return outcomes


def test_url_characters_like_python(protocol_page: Page) -> None:
    cases = sorted(URL_CHARACTERS.items())
    bodies = [_body(quick_exit_url="https://example.org/" + c) for c, _ in cases]
    bodies += [_body(more_url="https://example.org/" + c) for c, _ in cases]
    expected = ["ok" if ok else "MalformedInput" for _, ok in cases] * 2
    assert [_python(b) for b in bodies] == expected
    assert _javascript(protocol_page, bodies) == expected


def test_timestamps_are_safe_integers_like_python(protocol_page: Page) -> None:
    bodies = [_body(issued_at=2**53 - 1), _body(issued_at=2**53), _body(issued_at=2**64)]
    expected = ["ok", "MalformedInput", "MalformedInput"]
    assert [_python(b) for b in bodies] == expected
    assert _javascript(protocol_page, bodies) == expected


def test_every_refused_category_is_in_the_widget_rule(protocol_page: Page) -> None:
    samples = [
        next(chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) == category)
        for category in sorted(prof.URL_REFUSED_CATEGORIES)
    ]
    assert samples == ["\x00", "\xad", "\u2028", "\u2029", " "]
    bodies = [_body(quick_exit_url="https://example.org/" + c) for c in samples]
    assert [_python(b) for b in bodies] == ["MalformedInput"] * len(samples)
    assert _javascript(protocol_page, bodies) == ["MalformedInput"] * len(samples)


def test_language_and_more_text_like_python(protocol_page: Page) -> None:
    """Both optional: a profile without them (an older one) stays valid on both sides."""
    cases = [
        ({}, "ok"),
        ({"language": "fr"}, "ok"),
        ({"language": "haw"}, "ok"),
        ({"language": "FR"}, "MalformedInput"),
        ({"language": "fr-CA"}, "MalformedInput"),
        ({"language": "f"}, "MalformedInput"),
        ({"language": ""}, "MalformedInput"),
        ({"language": None}, "MalformedInput"),
        ({"language": 1}, "MalformedInput"),
        ({"more_text": "Plus long.\n\nTexte."}, "ok"),
        ({"more_text": "x" * prof.MAX_MORE_TEXT_LENGTH}, "ok"),
        ({"more_text": "x" * (prof.MAX_MORE_TEXT_LENGTH + 1)}, "MalformedInput"),
        ({"more_text": ""}, "MalformedInput"),
        ({"more_text": None}, "MalformedInput"),
        ({"more_text": ["x"]}, "MalformedInput"),
    ]
    bodies = [_body(**changes) for changes, _ in cases]
    expected = [outcome for _, outcome in cases]
    assert [_python(b) for b in bodies] == expected
    assert _javascript(protocol_page, bodies) == expected
    parsed = protocol_page.evaluate(
        "(b) => { const p = Q.parseProfile(new TextEncoder().encode(b));"
        " return [p.language, p.notice.more_text]; }",
        _body(language="es", more_text="Más."),
    )
    assert parsed == ["es", "Más."]
