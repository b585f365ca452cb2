"""Settings: defaults, environment overrides, refusal of bad values."""

from __future__ import annotations

import pytest

from server.settings import DEFAULT_DATABASE_URL, Settings


def test_defaults_and_environment_overrides() -> None:
    s = Settings.from_env(environ={})
    assert s.database_url == DEFAULT_DATABASE_URL and s.max_envelope_size == 64 * 1024
    env = {
        "QUIETLINE_DATABASE_URL": "sqlite+aiosqlite:///x.db",
        "QUIETLINE_MESSAGE_TTL_HOURS": "24",
        "QUIETLINE_WRITER_IN_THREAD": "true",
    }
    s = Settings.from_env(environ=env)
    assert s.database_url.endswith("x.db") and s.message_ttl_hours == 24 and s.writer_in_thread
    # the command line wins over the environment
    s = Settings.from_env(environ=env, database_url="sqlite+aiosqlite:///y.db")
    assert s.database_url.endswith("y.db")


@pytest.mark.parametrize(
    "env",
    [
        {"QUIETLINE_MAX_ENVELOPE_SIZE": "big"},
        {"QUIETLINE_MESSAGE_TTL_HOURS": "0"},
        {"QUIETLINE_MAX_RECIPIENTS": "9"},
        {"QUIETLINE_PUBLIC_ORIGIN": "relay.example"},
        {"QUIETLINE_WRITER_IN_THREAD": "maybe"},
        {"QUIETLINE_SWEEP_INTERVAL_SECONDS": "nan"},
        {"QUIETLINE_COMMIT_INTERVAL_MS": "inf"},
        {"QUIETLINE_SQLITE_SYNCHRONOUS": "sometimes"},
    ],
)
def test_bad_values_stop_the_relay_before_it_starts(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Settings.from_env(environ=env)
