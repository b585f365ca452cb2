"""The rota (weekly slots in the program's time zone, overnight, exceptions, touching
slots) and the shift rules (checked field by field, mapped onto the workflow's settings,
applied when the workflow is built), on a real keystore file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from client_sdk import store
from client_sdk.keystore import Keystore
from client_sdk.workflow.clock import ManualClock
from console import rota, rules, staffing
from console.errors import NotAllowed

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystore]:
    path: Path = tmp_path_factory.mktemp("rota") / "ks.qlks"
    ks = Keystore.create(path, "correct horse battery staple (test only)")
    store.put_json(
        ks, store.PROFILE_CONTENT, {"name": "Line", "hours": {"timezone": "Europe/Paris"}}
    )
    try:
        yield ks
    finally:
        ks.close()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Monday 2026-12-07 is day 0 (Paris time)."""
    return datetime(2026, 12, 7 + day, hour, minute, tzinfo=PARIS)


def test_weekly_slots_in_the_programs_zone_overnight_and_touching(keystore: Keystore) -> None:
    book = rota.Rota(keystore)
    zone = rota.program_zone(keystore)
    assert zone.key == "Europe/Paris"
    book.add_slot("sam", "mon", "22:00", "06:00")  # overnight
    book.add_slot("ali", "tue", "09:00", "13:00")
    book.add_slot("ali", "tuesday", "13:00", "17:00")  # touching: one stretch
    assert book.current("sam", at(1, 3), zone) == (at(0, 22), at(1, 6))
    assert book.current("sam", at(0, 21, 59), zone) is None
    assert book.current("sam", at(1, 6), zone) is None
    assert book.current("ali", at(1, 10), zone) == (at(1, 9), at(1, 17))
    assert book.current("ali", at(1, 10).astimezone(ZoneInfo("UTC")), zone) == (at(1, 9), at(1, 17))
    assert book.current("nobody", at(1, 10), zone) is None


def test_exceptions_a_date_off_an_extra_and_a_changed_slot(keystore: Keystore) -> None:
    book = rota.Rota(keystore)
    zone = rota.program_zone(keystore)
    book.add_slot("kim", "wed", "09:00", "17:00")
    book.set_exception("kim", "2026-12-09", off=True)  # that Wednesday off
    assert book.current("kim", at(2, 10), zone) is None
    assert book.current("kim", at(2 + 7, 10), zone) is not None  # the next one is not
    book.set_exception("kim", "2026-12-09", off=True, start="12:00", end="14:00")  # changed
    assert book.current("kim", at(2, 10), zone) is None
    assert book.current("kim", at(2, 13), zone) == (at(2, 12), at(2, 14))
    book.set_exception("kim", "2026-12-12", off=False, start="10:00", end="11:00")  # extra
    assert book.current("kim", at(5, 10, 30), zone) == (at(5, 10), at(5, 11))
    book.clear_exception("kim", "2026-12-09")
    assert book.current("kim", at(2, 10), zone) == (at(2, 9), at(2, 17))
    with pytest.raises(NotAllowed, match="no exception on 2026-12-09"):
        book.clear_exception("kim", "2026-12-09")
    book.clear("kim")
    assert book.of("kim")["weekly"] == []


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda b: b.add_slot("x", "noday", "09:00", "10:00"), "day must be one of"),
        (lambda b: b.add_slot("x", "mon", "24:00", "10:00"), "start time must be HH:MM"),
        (lambda b: b.add_slot("x", "mon", "09:00", "9:5"), "end time must be HH:MM"),
        (lambda b: b.add_slot("x", "mon", "09:00", "09:00"), "another time"),
        (lambda b: b.set_exception("x", "2026-02-30", off=True), "YYYY-MM-DD"),
        (lambda b: b.set_exception("x", "2026-12-01", off=False), "Say the date is off"),
        (lambda b: b.set_exception("x", "2026-12-01", off=False, start="10:00"), "both"),
    ],
)
def test_bad_rota_input_is_refused_by_name(keystore: Keystore, call: object, words: str) -> None:
    with pytest.raises(NotAllowed, match=words):
        call(rota.Rota(keystore))  # type: ignore[operator]


def test_shift_rules_are_checked_and_become_the_workflows_settings(keystore: Keystore) -> None:
    base = rules.ShiftRules()
    with pytest.raises(NotAllowed, match=r"last_minutes .* from 0 to 240"):
        base.changed({"last_minutes": 241})
    with pytest.raises(NotAllowed, match="whole number"):
        base.changed({"idle_minutes": "30"})
    with pytest.raises(NotAllowed, match="yes or no"):
        base.changed({"handoff": "no"})
    with pytest.raises(NotAllowed, match="no shift rule called"):
        base.changed({"colour": 1})
    assert rules.stored(keystore) is None
    rules.save(
        keystore, base.changed({"last_minutes": 20, "handoff": False, "max_conversations": 2})
    )
    workflow = staffing.build_workflow(keystore, ManualClock(at(0, 12)))
    assert workflow.settings.shift_end_buffer == timedelta(minutes=20)
    assert workflow.settings.auto_handoff_at_shift_end is False
    assert workflow.settings.max_active_per_staff == 2
    assert workflow.settings.inactivity_warning_after == timedelta(minutes=10)
    assert rules.load(keystore).idle == timedelta(minutes=30)
