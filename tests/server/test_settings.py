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


def test_serve_sets_the_collector_threshold_and_leaves_the_switch_interval(
    tmp_path, monkeypatch
) -> None:
    """``serve`` raises the young generation's threshold (gc_young_threshold) and keeps
    the older generations' ratios; the short GIL switch interval is only for
    writer_in_thread. Seen from inside uvicorn.run, which is stubbed here."""
    import gc
    import sys

    import uvicorn

    from server import cli

    seen: list[tuple[tuple[int, ...], float]] = []
    monkeypatch.setattr(
        uvicorn, "run", lambda *_a, **_k: seen.append((gc.get_threshold(), sys.getswitchinterval()))
    )
    url = f"sqlite+aiosqlite:///{tmp_path / 'r.db'}"
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        monkeypatch.delenv("QUIETLINE_GC_YOUNG_THRESHOLD", raising=False)
        monkeypatch.delenv("QUIETLINE_WRITER_IN_THREAD", raising=False)
        assert cli.main(["serve", "--database-url", url]) == 0
        monkeypatch.setenv("QUIETLINE_GC_YOUNG_THRESHOLD", "2500")
        monkeypatch.setenv("QUIETLINE_WRITER_IN_THREAD", "1")
        assert cli.main(["serve", "--database-url", url]) == 0
    finally:
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)
    assert seen == [
        ((Settings().gc_young_threshold, *threshold[1:]), interval),
        ((2500, *threshold[1:]), 0.0005),
    ]
    assert Settings().gc_young_threshold > 700


def test_a_broker_needs_a_redis_url_and_a_database_server() -> None:
    pg = "postgresql+asyncpg://relay@db.internal/relay"
    assert Settings(database_url=pg, broker_url="redis://r.internal:6379/0").broker_url
    with pytest.raises(ValueError, match="redis://"):
        Settings(database_url=pg, broker_url="http://r.internal")
    with pytest.raises(ValueError, match="database server"):
        Settings(broker_url="redis://r.internal:6379/0")  # the SQLite default
    env = {"QUIETLINE_BROKER_URL": "redis://r:1/0", "QUIETLINE_DATABASE_URL": pg}
    assert Settings.from_env(environ=env).broker_url == "redis://r:1/0"
