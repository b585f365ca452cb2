"""Every refusal of a profile names its key and what is wrong; nested keys get defaults."""

from __future__ import annotations

import time
from typing import Any

import pytest

from client_sdk.profile_content import ProfileError, parse_file_text
from client_sdk.publishing import DEFAULT_PROFILE, profile_from_content

NOW = int(time.time())
PARIS_WEEKDAYS = {
    "timezone": "Europe/Paris",
    "weekly": [{"day": d, "open": "09:00", "close": "17:00"} for d in range(5)],
}


@pytest.mark.parametrize(
    ("content", "key", "problem"),
    [
        ({"nmae": "Line"}, "nmae", "unknown key (did you mean name?)"),
        ({"v": 1}, "v", "set by the node"),
        ({"issued_at": 1}, "issued_at", "set by the node"),
        ({"notice": {"voluntry": "x"}}, "notice.voluntry", "did you mean notice.voluntary?"),
        ({"notice": "text"}, "notice", "must be a JSON object"),
        ({"notice": {"more_url": "ftp://x"}}, "notice.more_url", "must be an http(s) URL"),
        ({"notice": {"choices": None}}, "notice.choices", "is null"),
        ({"notice": {"more_text": ""}}, "notice.more_text", "must not be empty"),
        ({"language": "French"}, "language", "such as fr or es"),
        ({"language": None}, "language", "is null"),
        ({"langauge": "fr"}, "langauge", "did you mean language?"),
        ({"name": ""}, "name", "must not be empty"),
        ({"name": 7}, "name", "must be a string"),
        ({"name": "x" * 201}, "name", "longer than 200 characters"),
        ({"quick_exit_url": "javascript:alert(1)"}, "quick_exit_url", "http(s) URL"),
        ({"questions": {}}, "questions", "must be a JSON array"),
        ({"questions": [{"id": "a", "text": "", "why": ""}]}, "questions[0].text", "empty"),
        ({"questions": [{"id": "a b", "text": "t", "why": ""}]}, "questions[0].id", "letters"),
        ({"questions": [{"id": "a", "text": "t"}]}, "questions[0].why", "is missing"),
        (
            {"questions": [{"id": "a", "text": "t", "why": ""}] * 2},
            "questions[1].id",
            "already the id of questions[0]",
        ),
        ({"alternatives": [{"label": "Phone", "valeu": "1"}]}, "alternatives[0].valeu", "unknown"),
        (
            {"hours": {"timezone": "Mars/Base", "weekly": []}},
            "hours.timezone",
            "not in this system's time zone database",
        ),
        ({"hours": {"timezone": "Mars/Base"}}, "hours.timezone", "time zone database"),
        ({"hours": {"timezone": "Not a zone"}}, "hours.timezone", "IANA time zone name"),
        ({"hours": {"timezone": "UTC", "weekly": []}}, "hours.weekly", "closed at every hour"),
        (
            {"hours": {"weekly": [{"day": 7, "open": "09:00", "close": "17:00"}]}},
            "hours.weekly[0].day",
            "0 (Monday) to 6",
        ),
        (
            {"hours": {"weekly": [{"day": 1, "open": "9:00", "close": "17:00"}]}},
            "hours.weekly[0].open",
            "HH:MM",
        ),
        ({"hours": {"weekly": [{"day": 1, "open": "09:00"}]}}, "hours.weekly[0].close", "missing"),
        ({"hours": {"timezone": "UTC", "days": []}}, "hours.days", "unknown key"),
    ],
)
def test_each_refusal_names_the_key_and_the_problem(
    content: dict[str, Any], key: str, problem: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        profile_from_content(content, NOW)
    assert caught.value.key == key
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"profile key {key}: ")


def test_a_partial_notice_keeps_the_default_of_every_other_key() -> None:
    profile = profile_from_content({"notice": {"voluntary": "Only this one."}}, NOW)
    assert profile.notice.voluntary == "Only this one."
    assert profile.notice.choices == DEFAULT_PROFILE["notice"]["choices"]
    assert profile.notice.mandatory_reporting == DEFAULT_PROFILE["notice"]["mandatory_reporting"]
    assert profile.notice.more_url is None


def test_language_and_longer_notice_text_are_kept_and_optional() -> None:
    profile = profile_from_content(
        {"language": "fr", "notice": {"more_text": "Nous ne gardons rien."}}, NOW
    )
    assert profile.language == "fr"
    assert profile.notice.more_text == "Nous ne gardons rien."
    assert profile.notice.voluntary == DEFAULT_PROFILE["notice"]["voluntary"]
    older = profile_from_content({}, NOW)
    assert older.language is None and older.notice.more_text is None


def test_partial_hours_keep_the_other_default() -> None:
    profile = profile_from_content({"hours": {"timezone": "Europe/Paris"}}, NOW)
    assert profile.hours.timezone == "Europe/Paris"
    assert len(profile.hours.weekly) == 7  # the default's every-day hours
    weekdays = profile_from_content({"hours": PARIS_WEEKDAYS}, NOW)
    assert [p.day for p in weekdays.hours.weekly] == [0, 1, 2, 3, 4]


def test_an_oversized_profile_is_refused_as_a_whole() -> None:
    many = [{"id": f"q{i}", "text": "x" * 1000, "why": "y" * 1000} for i in range(20)]
    with pytest.raises(ProfileError) as caught:
        profile_from_content({"questions": many}, NOW)
    assert "larger than" in caught.value.problem


def test_file_text_errors_name_the_place() -> None:
    with pytest.raises(ProfileError) as caught:
        parse_file_text('{"name": "a", "name": "b"}')
    assert caught.value.key == "name" and "twice" in caught.value.problem
    with pytest.raises(ProfileError) as caught:
        parse_file_text('{"name": "a",\n "notice": }')
    assert "line 2" in caught.value.problem
    with pytest.raises(ProfileError):
        parse_file_text('{"name": NaN}')
