"""glue_values: base64url values that begin with "-" reach argparse as values."""

from __future__ import annotations

import argparse

import pytest

from client_sdk.argv import glue_values

OPTIONS = ("--identity-key", "--program-id")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(exit_on_error=False)
    p.add_argument("--identity-key")
    p.add_argument("--program-id")
    p.add_argument("--port", type=int)
    p.add_argument("rest", nargs="*")
    return p


def test_a_value_that_begins_with_a_dash_is_refused_by_argparse_alone() -> None:
    """What glue_values is for: without it, the documented form fails one time in 64."""
    with pytest.raises(argparse.ArgumentError, match="expected one argument"):
        parser().parse_args(["--identity-key", "-Xy_0"])


@pytest.mark.parametrize(
    ("words", "key", "pid"),
    [
        (["--identity-key", "-Xy_0", "--program-id", "--AB"], "-Xy_0", "--AB"),
        (["--identity-key=-Xy_0"], "-Xy_0", None),
        (["--program-id", "plain", "--port", "8"], None, "plain"),
    ],
)
def test_named_options_take_the_next_word_whatever_it_begins_with(
    words: list[str], key: str | None, pid: str | None
) -> None:
    args = parser().parse_args(glue_values(words, OPTIONS))
    assert (args.identity_key, args.program_id) == (key, pid)


def test_other_words_are_left_as_they_are() -> None:
    assert glue_values(["--port", "-1", "x"], OPTIONS) == ["--port", "-1", "x"]
    # after a bare "--" nothing is an option any more
    assert glue_values(["--", "--identity-key", "k"], OPTIONS) == ["--", "--identity-key", "k"]
    # an option last on the line stays alone: argparse says its value is missing
    assert glue_values(["--identity-key"], OPTIONS) == ["--identity-key"]
