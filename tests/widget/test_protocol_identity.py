"""The widget's profile rules agree with e2ee.profile: URL characters and timestamps.

Each case is parsed by widget/protocol (parseProfile, in Chromium) and by
e2ee.profile.parse_profile; both must accept or refuse it, and the expected outcome is
stated too, so that a rule changed on both sides at once is still caught.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from e2ee_samples import URL_CHARACTERS
from playwright.sync_api import Page

from e2ee import profile as prof
from e2ee.errors import QuietlineError

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


def _with(path: tuple[Any, ...], key: str, value: Any, **top: Any) -> str:
    """A profile body with ``key`` set to ``value`` in the object at ``path``."""
    obj = json.loads(_body())
    obj["questions"] = [{"id": "age", "text": "How old are you?", "why": "To help."}]
    obj["hours"]["weekly"] = [{"day": 0, "open": "09:00", "close": "17:00"}]
    obj["hours"]["closures"] = [{"date": "2026-12-25", "label": "Christmas Day"}]
    obj["alternatives"] = [{"label": "Hotline", "value": "+1 555 0100"}]
    obj.update(top)
    target: Any = obj
    for step in path:
        target = target[step]
    target[key] = value
    return json.dumps(obj, ensure_ascii=False)


def test_keys_this_version_does_not_know_like_python(protocol_page: Page) -> None:
    """Forward compatibility (docs/protocol.md): a key a newer program adds is ignored at
    every level, on both sides alike; a newer ``v``, a missing key, a bad known key and
    JSON either parser refuses are still refused."""
    deep = json.loads("[" * 64 + "]" * 64)
    deeper = json.loads("[" * 65 + "]" * 65)
    cases = [
        (_with((), "crisis_lines", [{"label": "Police", "value": "911"}]), "ok"),
        (_with(("notice",), "summary", "In short."), "ok"),
        (_with(("hours",), "note", {"shown": True, "n": -1}), "ok"),
        (_with(("questions", 0), "required", False), "ok"),
        (_with(("hours", "weekly", 0), "staffed_by", None), "ok"),
        (_with(("hours", "closures", 0), "observed", "2026-12-26"), "ok"),
        (_with(("alternatives", 0), "kind", "phone"), "ok"),
        (_with((), "future", deep), "ok"),
        (_with((), "future", 2**53 - 1), "ok"),
        # an escaped lone surrogate: texts this version reads refuse it, others are ignored
        (_with((), "future", "S").replace('"future": "S"', '"future": "\\ud800"'), "ok"),
        (_with((), "future", deeper), "MalformedInput"),
        (_with((), "future", 2**53), "MalformedInput"),
        (_with((), "future", 1, v=2), "MalformedInput"),
        (_with((), "future", 1, language="FR"), "MalformedInput"),
        (_with(("hours",), "closures", None), "MalformedInput"),  # optional: never null
        (_with(("notice",), "summary", "x").replace('"voluntary"', '"voluntry"'), "MalformedInput"),
        (_with((), "future", 1).replace('"future": 1', '"future": 1.5'), "MalformedInput"),
    ]
    bodies = [body for body, _ in cases]
    expected = [outcome for _, outcome in cases]
    assert [_python(b) for b in bodies] == expected
    assert _javascript(protocol_page, bodies) == expected
    parsed = protocol_page.evaluate(
        "(b) => { const p = Q.parseProfile(new TextEncoder().encode(b));"
        " return [Object.keys(p).sort(), Object.keys(p.notice).sort(), p.questions[0]]; }",
        _with(("notice",), "summary", "x", crisis_lines=[]),
    )
    assert parsed[0] == sorted([*json.loads(_body()), "language"])
    assert parsed[1] == sorted(["voluntary", "choices", "information", "mandatory_reporting",
                                "more_url", "more_text"])  # fmt: skip
    assert parsed[2] == {"id": "age", "text": "How old are you?", "why": "To help."}
