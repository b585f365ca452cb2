"""The profile and status documents: canonical JSON, strict parsers, field limits."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
from typing import Any

import pytest
from e2ee_samples import NOW, URL_CHARACTERS, make_profile, make_status
from hypothesis import given, settings
from hypothesis import strategies as st

from e2ee import identity
from e2ee import profile as prof
from e2ee.errors import InvalidSignature, LocalProtocolError, MalformedInput, OversizedInput
from e2ee.profile import (
    Alternative,
    Hours,
    Notice,
    OpeningPeriod,
    Profile,
    Question,
    Status,
)

# -- the module boundary --------------------------------------------------------------------


def test_identity_re_exports_every_profile_name() -> None:
    assert set(prof.__all__) <= set(identity.__all__)
    for name in prof.__all__:
        assert getattr(identity, name) is getattr(prof, name), name
    for module in (identity, prof):
        for name in module.__all__:
            assert hasattr(module, name), name


def test_profile_does_not_import_identity() -> None:
    # The dependency is one way (identity -> profile), so either can be imported first.
    code = (
        "import sys; import e2ee.profile; assert 'e2ee.identity' not in sys.modules; "
        "from e2ee.identity import Profile; assert Profile is e2ee.profile.Profile"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# -- canonical JSON ------------------------------------------------------------------------------


def test_canonical_json() -> None:
    assert prof.canonical_json({"b": 1, "a": ["é", "مرحبا"]}) == (
        '{"a":["é","مرحبا"],"b":1}'.encode()
    )
    for bad in ({"x": float("nan")}, {"x": "\ud800"}, {"x": {1, 2}}):
        with pytest.raises(LocalProtocolError):
            prof.canonical_json(bad)


# -- profile ---------------------------------------------------------------------------------


def test_profile_round_trip_and_canonical_form() -> None:
    profile = make_profile()
    body = profile.to_body()
    obj = json.loads(body)
    assert obj["v"] == 1
    assert (
        body == json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    )
    assert prof.parse_profile(body) == profile
    plain = make_profile(
        notice=dataclasses.replace(profile.notice, more_url=None), name="مركز الدعم 支援 सहायता 💜"
    )
    assert "more_url" not in json.loads(plain.to_body())["notice"]
    assert prof.parse_profile(plain.to_body()) == plain


def test_language_and_more_text_are_optional_and_round_trip() -> None:
    older = make_profile()
    obj = json.loads(older.to_body())
    assert "language" not in obj and "more_text" not in obj["notice"]
    assert prof.parse_profile(older.to_body()).language is None
    newer = make_profile(
        language="es",
        notice=dataclasses.replace(older.notice, more_text="Guardamos muy poco.\n\nNada más."),
    )
    obj = json.loads(newer.to_body())
    assert obj["language"] == "es" and obj["notice"]["more_text"].startswith("Guardamos")
    assert prof.parse_profile(newer.to_body()) == newer


@pytest.mark.parametrize(
    "changes",
    [
        {"name": ""},
        {"name": "x" * (prof.MAX_NAME_LENGTH + 1)},
        {"name": 5},
        {"name": "bad \ud800"},
        {"notice": "text"},
        {"safety_check_in": "x" * (prof.MAX_NOTICE_TEXT_LENGTH + 1)},
        {"questions": [Question("a", "b", "c")]},
        {"questions": (Question("a", "b", "c"), Question("a", "d", "e"))},
        {"questions": tuple(Question(f"q{i}", "t", "w") for i in range(prof.MAX_QUESTIONS + 1))},
        {"questions": ("q",)},
        {"hours": None},
        {"hours": {"timezone": "UTC", "weekly": []}},
        {"alternatives": (Alternative("a", "b"),) * (prof.MAX_ALTERNATIVES + 1)},
        {"quick_exit_url": "weather.example"},
        {"quick_exit_url": "https://x\n"},
        {"quick_exit_url": "https://" + "x" * prof.MAX_URL_LENGTH},
        {"issued_at": -1},
        {"issued_at": True},
        {"issued_at": 2**64},
        {"issued_at": 2**53},
        {"language": ""},
        {"language": "FR"},
        {"language": "fr-CA"},
        {"language": "f"},
        {"language": "fren"},
        {"language": 7},
    ],
)
def test_profile_refuses_bad_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        make_profile(**changes)


@pytest.mark.parametrize(
    "make",
    [
        lambda: Notice(None, "", "", ""),  # type: ignore[arg-type]
        lambda: Notice("", "", "", "", more_url="javascript:alert(1)"),
        lambda: Notice("", "", "", "", more_url="https://a b"),
        lambda: Notice("", "", "", "", more_text=""),
        lambda: Notice("", "", "", "", more_text="x" * (prof.MAX_MORE_TEXT_LENGTH + 1)),
        lambda: Notice("", "", "", "", more_text=3),  # type: ignore[arg-type]
        lambda: Question("", "t", "w"),
        lambda: Question("bad id", "t", "w"),
        lambda: Question("id", "", "w"),
        lambda: OpeningPeriod(7, "09:00", "10:00"),
        lambda: OpeningPeriod(-1, "09:00", "10:00"),
        lambda: OpeningPeriod(True, "09:00", "10:00"),
        lambda: OpeningPeriod(0, "24:00", "10:00"),
        lambda: OpeningPeriod(0, "9:00", "10:00"),
        lambda: OpeningPeriod(0, "09:60", "10:00"),
        lambda: OpeningPeriod(0, "09:00", "24:01"),
        lambda: OpeningPeriod(0, "０９:００", "10:00"),
        lambda: Hours("Europe/Paris ", ()),
        lambda: Hours("x" * (prof.MAX_TIMEZONE_LENGTH + 1), ()),
        lambda: Hours("UTC", [OpeningPeriod(0, "09:00", "10:00")]),  # type: ignore[arg-type]
        lambda: Hours("UTC", (OpeningPeriod(0, "09:00", "10:00"),) * (prof.MAX_HOURS_PERIODS + 1)),
        lambda: Alternative("", "x"),
        lambda: Alternative("x", "y" * (prof.MAX_ALTERNATIVE_LENGTH + 1)),
    ],
)
def test_nested_types_refuse_bad_fields(make: Any) -> None:
    with pytest.raises(LocalProtocolError):
        make()


def test_profile_body_size_limit() -> None:
    long = "ж" * prof.MAX_QUESTION_TEXT_LENGTH
    profile = make_profile(
        questions=tuple(Question(f"q{i}", long, long) for i in range(prof.MAX_QUESTIONS))
    )
    with pytest.raises(LocalProtocolError):
        profile.to_body()


def _profile_obj() -> dict[str, Any]:
    return json.loads(make_profile().to_body())  # type: ignore[no-any-return]


def _mutations() -> list[Any]:
    def set_path(path: tuple[Any, ...], value: Any) -> Any:
        def change(obj: dict[str, Any]) -> None:
            target: Any = obj
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return change

    def delete_path(path: tuple[Any, ...]) -> Any:
        def change(obj: dict[str, Any]) -> None:
            target: Any = obj
            for key in path[:-1]:
                target = target[key]
            del target[path[-1]]

        return change

    out = [
        set_path(("v",), 2),
        set_path(("v",), "1"),
        set_path(("v",), True),
        set_path(("name",), None),
        set_path(("name",), ["x"]),
        set_path(("notice",), []),
        set_path(("notice", "more_url"), None),
        set_path(("notice", "more_text"), None),
        set_path(("notice", "more_text"), 1),
        set_path(("language",), None),
        set_path(("language",), "english"),
        set_path(("notice", "choices"), 3),
        set_path(("questions",), {}),
        set_path(("questions",), [1]),
        set_path(("questions", 0, "id"), 1),
        set_path(("questions",), [{"id": "a", "text": "b", "why": "c"}] * 2),
        set_path(
            ("questions",),
            [{"id": f"q{i}", "text": "t", "why": "w"} for i in range(prof.MAX_QUESTIONS + 1)],
        ),
        set_path(("hours", "weekly"), [{"day": 0, "open": "09:00", "close": "10:00"}] * 29),
        set_path(("alternatives",), [{"label": "a", "value": "b"}] * 11),
        set_path(("hours",), "always"),
        set_path(("hours", "weekly"), {}),
        set_path(("hours", "weekly", 0, "day"), "0"),
        set_path(("hours", "weekly", 0, "open"), 900),
        set_path(("hours", "timezone"), None),
        set_path(("alternatives",), None),
        set_path(("alternatives", 0), ["a", "b"]),
        set_path(("alternatives", 0, "value"), ""),
        set_path(("quick_exit_url",), "data:text/html,x"),
        set_path(("issued_at",), "now"),
        set_path(("issued_at",), -5),
    ]
    for key in _profile_obj():
        out.append(delete_path((key,)))
    for key in ("voluntary", "choices", "information", "mandatory_reporting"):
        out.append(delete_path(("notice", key)))
    out.append(delete_path(("hours", "weekly")))
    out.append(delete_path(("questions", 0, "why")))
    return out


@pytest.mark.parametrize("mutate", _mutations())
def test_parse_profile_refuses_bad_objects(mutate: Any) -> None:
    obj = _profile_obj()
    mutate(obj)
    with pytest.raises(MalformedInput):
        prof.parse_profile(json.dumps(obj).encode())


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"[]",
        b"null",
        b'"profile"',
        b"\xff\xfe{}",
        b'{"v":1,"v":1}',
        b'{"v":NaN}',
        b'{"v":Infinity}',
        b'{"v":1.0}',
        b'{"v":1e3}',
        b'{"v":' + b"9" * 5000 + b"}",
        b"[" * 20000 + b"]" * 20000,
        b'{"name":"\\ud800"}',
        b" " * (prof.MAX_PROFILE_SIZE + 1),
    ],
)
def test_parse_profile_refuses_bad_json(raw: bytes) -> None:
    with pytest.raises(MalformedInput):
        prof.parse_profile(raw)


def test_parse_refuses_oversized_and_non_bytes() -> None:
    with pytest.raises(OversizedInput):
        prof.parse_profile(b" " * (prof.MAX_PROFILE_SIZE + 1))
    with pytest.raises(OversizedInput):
        prof.parse_status(b" " * (prof.MAX_STATUS_SIZE + 1))
    with pytest.raises(MalformedInput):
        prof.parse_profile("{}")  # type: ignore[arg-type]


def test_parse_profile_accepts_non_canonical_bytes_it_was_given() -> None:
    # Verifiers parse the exact bytes that were signed; they never re-serialize.
    obj = _profile_obj()
    raw = json.dumps(obj, indent=2).encode()
    assert prof.parse_profile(raw) == make_profile()


# -- forward compatibility: keys this version does not know ----------------------------------

# (the object's path, a key no verifier of this version knows, its value): what a newer
# program might add at each level of the profile.
UNKNOWN_KEYS: list[tuple[tuple[Any, ...], str, Any]] = [
    ((), "crisis_lines", [{"label": "Police", "value": "911"}]),
    (("notice",), "summary", "In short: your choice, your pace."),
    (("hours",), "note", {"text": "Closed on public holidays", "shown": True}),
    (("questions", 0), "required", False),
    (("hours", "weekly", 0), "staffed_by", None),
    (("alternatives", 0), "kind", "phone"),
]


def _with_unknown_keys(obj: dict[str, Any]) -> dict[str, Any]:
    for path, key, value in UNKNOWN_KEYS:
        target: Any = obj
        for step in path:
            target = target[step]
        target[key] = value
    return obj


@pytest.mark.parametrize("where", range(len(UNKNOWN_KEYS)))
def test_a_key_this_version_does_not_know_is_ignored(where: int) -> None:
    """A newer program's optional key, at any level, does not stop this verifier: the
    profile parses as if the key were not there (docs/protocol.md, forward compatibility)."""
    obj = _profile_obj()
    path, key, value = UNKNOWN_KEYS[where]
    target: Any = obj
    for step in path:
        target = target[step]
    target[key] = value
    assert prof.parse_profile(prof.canonical_json(obj)) == make_profile()


def test_unknown_keys_are_signed_like_the_rest() -> None:
    alice = identity.IdentityKeyPair.from_seed(bytes(range(32)))
    body = prof.canonical_json(_with_unknown_keys(_profile_obj()))
    signed = identity.SignedObject(body, alice.sign(identity.LABEL_PROFILE, body))
    assert identity.verify_profile(alice.public_key, alice.program_id, signed) == make_profile()
    changed = body.replace(b'"kind":"phone"', b'"kind":"email"')
    assert changed != body
    with pytest.raises(InvalidSignature):
        identity.verify_profile(
            alice.public_key, alice.program_id, identity.SignedObject(changed, signed.signature)
        )


def test_a_newer_version_is_refused_whatever_its_keys() -> None:
    """What older verifiers must not ignore comes with a new ``v``: refused at once."""
    newer = _with_unknown_keys({**_profile_obj(), "v": 2})
    with pytest.raises(MalformedInput, match="unsupported version"):
        prof.parse_profile(prof.canonical_json(newer))
    with pytest.raises(MalformedInput, match="unsupported version"):
        prof.parse_profile(b'{"v":2,"shape":"new"}')
    with pytest.raises(MalformedInput):
        prof.parse_profile(
            prof.canonical_json({k: v for k, v in _profile_obj().items() if k != "v"})
        )


@pytest.mark.parametrize(
    "raw",
    [
        b'"future":1.5}',  # a float
        b'"future":1,"future":2}',  # a duplicate key
        b'"future":"' + b"x" * prof.MAX_PROFILE_SIZE + b'"}',  # too large
        b'"future":' + str(2**53).encode() + b"}",  # beyond JavaScript's safe integers
        b'"future":' + b"[" * 65 + b"]" * 65 + b"}",  # nested deeper than the widget reads
    ],
)
def test_unknown_keys_follow_the_json_rules_of_the_body(raw: bytes) -> None:
    body = prof.canonical_json(_profile_obj())[:-1] + b"," + raw
    with pytest.raises(MalformedInput):
        prof.parse_profile(body)


def test_unknown_keys_may_hold_what_both_verifiers_read() -> None:
    body = prof.canonical_json(_profile_obj())[:-1]
    for tail in (
        b'"future":' + b"[" * 64 + b"]" * 64 + b"}",
        b'"future":' + str(2**53 - 1).encode() + b"}",
        b'"future":[null,true,"\\ud800",{"a":-1}]}',  # the widget reads lone surrogates too
    ):
        assert prof.parse_profile(body + b"," + tail) == make_profile()


def test_a_program_still_cannot_publish_a_key_it_does_not_know() -> None:
    """Liberal in what it reads, strict in what it writes: the producer refuses."""
    with pytest.raises(TypeError):
        Profile(**{**dataclasses.asdict(make_profile()), "crisis_lines": []})  # type: ignore[arg-type]


# -- status -------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", prof.STATUS_STATES)
def test_status_round_trip(state: Any) -> None:
    status = make_status(state=state)
    body = status.to_body()
    assert json.loads(body) == {
        "v": 1,
        "state": state,
        "message": "We are answering.",
        "issued_at": NOW - 10,
        "expires_at": NOW + 600,
    }
    assert prof.parse_status(body) == status


@pytest.mark.parametrize(
    "changes",
    [
        {"state": "unknown"},
        {"state": None},
        {"message": 3},
        {"message": "m" * (prof.MAX_STATUS_MESSAGE_LENGTH + 1)},
        {"issued_at": -1},
        {"expires_at": 1.5},
        {"issued_at": NOW, "expires_at": NOW - 1},
        {"expires_at": 2**53},
    ],
)
def test_status_refuses_bad_fields(changes: dict[str, Any]) -> None:
    with pytest.raises(LocalProtocolError):
        make_status(**changes)


def test_status_body_size_limit() -> None:
    with pytest.raises(LocalProtocolError):
        make_status(message="\x01" * prof.MAX_STATUS_MESSAGE_LENGTH).to_body()


@pytest.mark.parametrize(
    "obj",
    [
        {"v": 1, "state": "open", "message": "", "issued_at": 1},
        {"v": 1, "state": "open", "message": "", "issued_at": 1, "expires_at": 2, "x": 0},
        {"v": 2, "state": "open", "message": "", "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": "OPEN", "message": "", "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": ["open"], "message": "", "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": "open", "message": None, "issued_at": 1, "expires_at": 2},
        {"v": 1, "state": "open", "message": "", "issued_at": 3, "expires_at": 2},
        {"v": 1, "state": "open", "message": "", "issued_at": 1, "expires_at": "2"},
    ],
)
def test_parse_status_refuses_bad_objects(obj: dict[str, Any]) -> None:
    with pytest.raises(MalformedInput):
        prof.parse_status(json.dumps(obj).encode())


# -- properties for the parsers -------------------------------------------------------------

_text = st.text(max_size=40)
_non_empty = st.text(min_size=1, max_size=40)
_url = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zs", "Zl", "Zp")), max_size=30
).map(lambda s: "https://" + s)
_time = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
_profiles = st.builds(
    Profile,
    name=_non_empty,
    notice=st.builds(Notice, _text, _text, _text, _text, st.none() | _url),
    safety_check_in=_text,
    questions=st.lists(
        st.builds(
            Question, st.from_regex(r"[A-Za-z0-9_\-]{1,20}", fullmatch=True), _non_empty, _text
        ),
        max_size=4,
        unique_by=lambda q: q.id,
    ).map(tuple),
    hours=st.builds(
        Hours,
        st.from_regex(r"[A-Za-z_/+\-]{1,30}", fullmatch=True),
        st.lists(
            st.builds(OpeningPeriod, st.integers(0, 6), _time, _time | st.just("24:00")), max_size=5
        ).map(tuple),
    ),
    alternatives=st.lists(st.builds(Alternative, _non_empty, _non_empty), max_size=3).map(tuple),
    quick_exit_url=_url,
    issued_at=st.integers(0, prof.MAX_TIMESTAMP),
)


@settings(max_examples=60, deadline=None)
@given(_profiles)
def test_profile_round_trip_property(profile: Profile) -> None:
    assert prof.parse_profile(profile.to_body()) == profile


@settings(deadline=None)
@given(
    st.sampled_from(prof.STATUS_STATES),
    st.text(max_size=100),
    st.integers(0, 2**52),
    st.integers(0, 2**52 - 1),
)
def test_status_round_trip_property(state: Any, message: str, issued: int, extra: int) -> None:
    status = Status(state, message, issued, issued + extra)
    assert prof.parse_status(status.to_body()) == status


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parsers_raise_only_malformed_input_on_bytes(data: bytes) -> None:
    for parse in (prof.parse_profile, prof.parse_status):
        with contextlib.suppress(MalformedInput):
            parse(data)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_parsers_raise_only_malformed_input_on_near_valid_json(data: st.DataObject) -> None:
    for parse, obj in (
        (prof.parse_profile, _profile_obj()),
        (prof.parse_status, json.loads(make_status().to_body())),
    ):
        target: Any = obj
        # walk down a random path and replace one value
        while True:
            keys = list(target) if isinstance(target, dict) else list(range(len(target)))
            if not keys:
                break
            key = data.draw(st.sampled_from(keys))
            if isinstance(target[key], dict | list) and data.draw(st.booleans()):
                target = target[key]
                continue
            target[key] = data.draw(_json_values)
            break
        with contextlib.suppress(MalformedInput):
            parse(json.dumps(obj).encode())


# -- review fixes: one URL rule with the widget, safe-integer times -------------------------


def test_url_rule_is_the_unicode_categories() -> None:
    assert {"Cc", "Cf", "Zs", "Zl", "Zp"} == prof.URL_REFUSED_CATEGORIES


@pytest.mark.parametrize(("chars", "accepted"), sorted(URL_CHARACTERS.items()))
def test_url_characters(chars: str, accepted: bool) -> None:
    url = "https://example.org/" + chars
    body = make_profile().to_json()
    body["quick_exit_url"] = url
    data = json.dumps(body, ensure_ascii=False).encode()
    if accepted:
        assert make_profile(quick_exit_url=url).quick_exit_url == url
        assert prof.parse_profile(data).quick_exit_url == url
    else:
        with pytest.raises(LocalProtocolError):
            make_profile(quick_exit_url=url)
        with pytest.raises(MalformedInput):
            prof.parse_profile(data)


def test_timestamps_are_safe_integers() -> None:
    assert prof.MAX_TIMESTAMP == 2**53 - 1
    assert make_profile(issued_at=2**53 - 1).issued_at == 2**53 - 1
    body = make_profile().to_json()
    body["issued_at"] = 2**53
    with pytest.raises(MalformedInput):
        prof.parse_profile(json.dumps(body).encode())
    status = make_status().to_json()
    status["expires_at"] = 2**53
    with pytest.raises(MalformedInput):
        prof.parse_status(json.dumps(status).encode())
