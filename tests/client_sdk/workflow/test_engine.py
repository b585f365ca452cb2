"""The workflow engine: queue, assignment, shifts, inactivity, duress, code words, status.

Every timer runs on a ManualClock; nothing sleeps.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from client_sdk.workflow import (
    Assigned,
    AssignReason,
    CannedNotices,
    CloseConversation,
    CloseReason,
    CodeWordBook,
    CodeWordPolicy,
    HandoffNeeded,
    InvalidSetting,
    InvalidState,
    ManualClock,
    NoOneAvailable,
    NotEligible,
    NoticeKind,
    OpeningSpan,
    PublishStatus,
    Queued,
    RequestCodeWord,
    ReturnedToQueue,
    Role,
    SendNotice,
    Shift,
    ShiftEndingSoon,
    StaffMember,
    StatusKeeper,
    StatusState,
    UnknownConversation,
    UnknownStaff,
    UrgentAlert,
    WeeklyHours,
    Workflow,
    WorkflowSettings,
)
from client_sdk.workflow.actions import Action
from e2ee import payload

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday
H = timedelta(hours=1)
M = timedelta(minutes=1)
NOTICES = CannedNotices()


def member(staff_id: str, start: datetime, end: datetime, role: Role = Role.STAFF) -> StaffMember:
    return StaffMember(staff_id, staff_id.title(), role, (Shift(start, end),))


def build(
    clock: ManualClock | None = None,
    *,
    settings: WorkflowSettings | None = None,
    status: StatusKeeper | None = None,
    staff: tuple[StaffMember, ...] | None = None,
) -> tuple[Workflow, ManualClock]:
    clock = clock or ManualClock(T0)
    team = (
        staff
        if staff is not None
        else (
            member("ana", T0, T0 + 8 * H),
            member("ben", T0, T0 + 4 * H),
            member("sue", T0, T0 + 8 * H, Role.SUPERVISOR),
        )
    )
    wf = Workflow(
        clock=clock,
        settings=settings,
        staff=team,
        status=status,
        codewords=CodeWordBook(CodeWordPolicy(time_cost=1, memory_cost=8, parallelism=1)),
    )
    return wf, clock


def kinds(actions: list[Action]) -> list[str]:
    out = []
    for a in actions:
        if isinstance(a, SendNotice):
            out.append(f"notice:{a.notice.kind.value}")
        else:
            out.append(type(a).__name__)
    return out


# -- arrival and queue ------------------------------------------------------------------


def test_arrival_gets_the_safety_check_in_and_a_place_in_the_queue() -> None:
    wf, _ = build()
    assert wf.conversation_opened("c1") == [
        SendNotice("c1", NOTICES.safety_check_in_notice()),
        Queued("c1", 1),
    ]
    assert wf.conversation_opened("c2")[-1] == Queued("c2", 2)
    assert wf.waiting() == ["c1", "c2"]
    with pytest.raises(InvalidState):
        wf.conversation_opened("c1")


def test_rights_notice_at_start_is_a_setting() -> None:
    wf, _ = build(settings=WorkflowSettings(send_rights_notice=True, send_safety_check_in=False))
    assert kinds(wf.conversation_opened("c1")) == ["notice:rights", "Queued"]


def test_claim_and_take_next() -> None:
    wf, clock = build()
    for cid in ("c1", "c2", "c3"):
        wf.conversation_opened(cid)
        clock.advance(seconds=10)
    assert wf.claim("c2", "ana") == [Assigned("c2", "ana", AssignReason.CLAIM)]
    assert wf.take_next("ben") == [Assigned("c1", "ben", AssignReason.CLAIM)]
    assert wf.waiting() == ["c3"]
    assert wf.assigned("ana") == ["c2"]
    view = wf.conversation("c2")
    assert (
        view.assigned_to == "ana"
        and not view.waiting
        and view.opened_at == T0 + 10 * timedelta(seconds=1)
    )
    with pytest.raises(InvalidState):
        wf.claim("c2", "ben")
    with pytest.raises(UnknownConversation):
        wf.claim("nope", "ana")
    with pytest.raises(UnknownStaff):
        wf.claim("c3", "zed")
    wf.take_next("ana")
    assert wf.take_next("ana") == []
    with pytest.raises(UnknownStaff):
        wf.take_next("zed")


def test_no_new_conversation_in_the_last_30_minutes_of_a_shift() -> None:
    wf, clock = build()
    wf.conversation_opened("c1")
    clock.set(T0 + 4 * H - 30 * M)  # ben's shift ends at 13:00
    with pytest.raises(NotEligible, match="last minutes"):
        wf.claim("c1", "ben")
    clock.set(T0 + 4 * H - 30 * M - timedelta(seconds=1))
    assert wf.claim("c1", "ben")[0] == Assigned("c1", "ben", AssignReason.CLAIM)


def test_buffer_is_a_setting_and_off_shift_staff_cannot_claim() -> None:
    wf, clock = build(settings=WorkflowSettings(shift_end_buffer=timedelta(minutes=10)))
    wf.conversation_opened("c1")
    clock.set(T0 + 4 * H - 11 * M)
    wf.claim("c1", "ben")
    wf.conversation_opened("c2")
    clock.set(T0 + 5 * H)
    with pytest.raises(NotEligible, match="not on shift"):
        wf.claim("c2", "ben")


def test_capacity_per_staff_member() -> None:
    wf, _ = build(settings=WorkflowSettings(max_active_per_staff=2))
    for cid in ("c1", "c2", "c3"):
        wf.conversation_opened(cid)
    wf.claim("c1", "ana")
    wf.claim("c2", "ana")
    with pytest.raises(NotEligible, match="most conversations"):
        wf.claim("c3", "ana")


# -- transfer, escalation, shift change ----------------------------------------------------


def test_transfer_tells_the_participant_someone_new_is_answering() -> None:
    wf, _ = build()
    wf.conversation_opened("c1")
    wf.claim("c1", "ana")
    assert wf.transfer("c1", "ben") == [
        Assigned("c1", "ben", AssignReason.TRANSFER, "ana"),
        SendNotice("c1", NOTICES.transfer_notice()),
    ]
    assert wf.assigned("ben") == ["c1"] and wf.assigned("ana") == []
    with pytest.raises(InvalidState):
        wf.transfer("c1", "ben")
    wf.conversation_opened("c2")
    with pytest.raises(InvalidState):
        wf.transfer("c2", "ana")


def test_transfer_to_someone_ending_their_shift_is_refused_but_a_supervisor_may_take_it() -> None:
    wf, clock = build(staff=(
        member("ana", T0, T0 + 8 * H),
        member("ben", T0, T0 + 4 * H),
        member("sue", T0, T0 + 4 * H, Role.SUPERVISOR),
    ))  # fmt: skip
    wf.conversation_opened("c1")
    wf.claim("c1", "ana")
    clock.set(T0 + 4 * H - 10 * M)
    with pytest.raises(NotEligible):
        wf.transfer("c1", "ben")
    assert wf.transfer("c1", "sue")[0] == Assigned("c1", "sue", AssignReason.SUPERVISOR, "ana")
    clock.set(T0 + 5 * H)
    wf.conversation_opened("c2")
    wf.claim("c2", "ana")
    with pytest.raises(NotEligible):
        wf.transfer("c2", "sue")


def test_escalation_to_a_supervisor() -> None:
    wf, _ = build(staff=(
        member("ana", T0, T0 + 8 * H),
        member("sue", T0, T0 + 8 * H, Role.SUPERVISOR),
        member("sam", T0, T0 + 8 * H, Role.SUPERVISOR),
    ))  # fmt: skip
    for cid in ("c1", "c2", "c3"):
        wf.conversation_opened(cid)
    wf.claim("c1", "ana")
    wf.claim("c2", "sam")
    assert wf.escalate("c1") == [
        Assigned("c1", "sue", AssignReason.SUPERVISOR, "ana"),
        SendNotice("c1", NOTICES.transfer_notice()),
    ]
    # a waiting conversation goes straight to the least busy supervisor (sam: 1, sue: 1 -> sam)
    assert wf.escalate("c3")[0] == Assigned("c3", "sam", AssignReason.SUPERVISOR)


def test_a_supervisor_escalates_to_another_supervisor() -> None:
    wf, _ = build(staff=(
        member("sue", T0, T0 + 8 * H, Role.SUPERVISOR),
        member("sam", T0, T0 + 8 * H, Role.SUPERVISOR),
    ))  # fmt: skip
    for cid in ("c1", "c2", "c3"):
        wf.conversation_opened(cid)
    wf.claim("c1", "sue")
    wf.claim("c2", "sam")
    wf.claim("c3", "sam")
    assert wf.escalate("c1")[0] == Assigned("c1", "sam", AssignReason.SUPERVISOR, "sue")
    wf.remove_staff("sue")
    with pytest.raises(NoOneAvailable):
        wf.escalate("c1")  # sam holds it and is the only supervisor


def test_escalation_without_a_supervisor() -> None:
    wf, _ = build(staff=(member("ana", T0, T0 + 8 * H),))
    wf.conversation_opened("c1")
    wf.claim("c1", "ana")
    with pytest.raises(NoOneAvailable):
        wf.escalate("c1")


def test_shift_end_reminder_then_hand_off() -> None:
    wf, clock = build()
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    clock.set(T0 + 4 * H - 31 * M)
    assert [a for a in wf.tick() if isinstance(a, ShiftEndingSoon)] == []
    clock.set(T0 + 4 * H - 30 * M)
    assert wf.tick() == [ShiftEndingSoon("ben", ("c1",))]
    clock.advance(minutes=1)
    assert wf.tick() == []  # reminded once
    clock.set(T0 + 4 * H)
    assert wf.tick() == [
        Assigned("c1", "ana", AssignReason.SHIFT_CHANGE, "ben"),
        SendNotice("c1", NOTICES.shift_change_notice()),
    ]
    assert wf.assigned("ana") == ["c1"]


def test_hand_off_prefers_the_least_busy_and_staff_before_supervisors() -> None:
    wf, _ = build(staff=(
        member("ana", T0, T0 + 8 * H),
        member("ben", T0, T0 + 4 * H),
        member("cat", T0, T0 + 8 * H),
        member("sue", T0, T0 + 8 * H, Role.SUPERVISOR),
    ))  # fmt: skip
    for cid in ("c1", "c2", "c3"):
        wf.conversation_opened(cid)
    wf.claim("c1", "ben")
    wf.claim("c2", "ben")
    wf.claim("c3", "ana")
    actions = wf.hand_off("ben")
    assigned = [a for a in actions if isinstance(a, Assigned)]
    assert assigned == [
        Assigned("c1", "cat", AssignReason.SHIFT_CHANGE, "ben"),
        Assigned("c2", "ana", AssignReason.SHIFT_CHANGE, "ben"),
    ]
    assert kinds(actions).count("notice:shift_change") == 2


def test_hand_off_goes_under_capacity_first_then_overloads_rather_than_queue() -> None:
    wf, _ = build(settings=WorkflowSettings(max_active_per_staff=1))  # ana, ben, sue
    for cid in ("c1", "c2", "c3"):
        wf.conversation_opened(cid)
    wf.claim("c1", "ana")
    wf.claim("c2", "ben")
    # ana (staff) is full, sue (supervisor) is not: capacity comes before role
    assert wf.hand_off("ben")[0] == Assigned("c2", "sue", AssignReason.SHIFT_CHANGE, "ben")
    wf.claim("c3", "ben")
    # everyone is full now: ana still takes it (staff first) instead of the queue
    assert wf.hand_off("ben")[0] == Assigned("c3", "ana", AssignReason.SHIFT_CHANGE, "ben")


def test_hand_off_with_nobody_available_returns_to_the_head_of_the_queue() -> None:
    wf, clock = build(staff=(
        member("ben", T0, T0 + 4 * H),
        member("sue", T0, T0 + 4 * H, Role.SUPERVISOR),
        member("ana", T0 + 5 * H, T0 + 9 * H),
    ))  # fmt: skip
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    clock.advance(minutes=1)
    wf.conversation_opened("c2")
    clock.set(T0 + 4 * H)
    actions = wf.tick()
    assert actions == [ReturnedToQueue("c1", "ben"), HandoffNeeded("c1", "ben", ())]
    assert wf.waiting() == ["c1", "c2"]
    clock.set(T0 + 5 * H)
    assert wf.take_next("ana") == [
        Assigned("c1", "ana", AssignReason.CLAIM, "ben"),
        SendNotice("c1", NOTICES.shift_change_notice()),
    ]


def test_claiming_back_ones_own_conversation_sends_no_shift_change_notice() -> None:
    ben = member("ben", T0, T0 + 4 * H)
    wf, clock = build(staff=(ben,))
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    clock.set(T0 + 4 * H)
    assert kinds(wf.tick()) == ["ReturnedToQueue", "HandoffNeeded"]
    wf.set_staff(ben.with_shifts(Shift(T0 + 5 * H, T0 + 9 * H)))
    clock.set(T0 + 5 * H)
    assert wf.take_next("ben") == [Assigned("c1", "ben", AssignReason.CLAIM, "ben")]


def test_time_back_in_the_queue_is_not_participant_silence() -> None:
    wf, clock = build(staff=(
        member("ben", T0, T0 + 4 * H),
        member("ana", T0 + 5 * H, T0 + 9 * H),
    ))  # fmt: skip
    for cid in ("warned", "quiet"):
        wf.conversation_opened(cid)
        wf.claim(cid, "ben")
    clock.set(T0 + 4 * H - 12 * M)
    wf.staff_message("warned")
    clock.set(T0 + 4 * H - 2 * M)
    assert [a.conversation_id for a in wf.tick() if isinstance(a, SendNotice)] == ["warned"]
    wf.staff_message("quiet")
    clock.set(T0 + 4 * H)
    assert kinds(wf.tick()) == ["ReturnedToQueue", "HandoffNeeded"] * 2
    clock.set(T0 + 5 * H)
    wf.take_next("ana")
    wf.take_next("ana")
    assert wf.tick() == []  # neither closed nor warned for the hour spent waiting
    wf.staff_message("warned")
    clock.advance(WorkflowSettings().inactivity_warning_after)
    assert kinds(wf.tick()) == ["notice:inactivity"]


def test_hand_off_alert_goes_to_supervisors_on_shift() -> None:
    wf, clock = build(staff=(
        member("ben", T0, T0 + 4 * H),
        member("sue", T0, T0 + 4 * H + 10 * M, Role.SUPERVISOR),
    ))  # fmt: skip
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    clock.set(T0 + 4 * H)
    assert HandoffNeeded("c1", "ben", ("sue",)) in wf.tick()


def test_auto_hand_off_can_be_turned_off() -> None:
    wf, clock = build(settings=WorkflowSettings(auto_handoff_at_shift_end=False))
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    clock.set(T0 + 4 * H)
    assert [a for a in wf.tick() if not isinstance(a, ShiftEndingSoon)] == []
    assert wf.assigned("ben") == ["c1"]


def test_remove_staff() -> None:
    wf, _ = build()
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    with pytest.raises(InvalidState):
        wf.remove_staff("ben")
    wf.remove_staff("sue")
    assert [m.staff_id for m in wf.staff_members()] == ["ana", "ben"]
    with pytest.raises(UnknownStaff):
        wf.remove_staff("sue")


# -- inactivity and closing ------------------------------------------------------------------


def started(wf: Workflow, clock: ManualClock) -> None:
    wf.conversation_opened("c1")
    wf.claim("c1", "ana")
    wf.participant_message("c1")
    clock.advance(minutes=1)
    wf.staff_message("c1")


def test_inactivity_warning_then_close_with_the_closing_notice_first() -> None:
    wf, clock = build()
    started(wf, clock)
    t = clock.now()
    assert wf.tick(t + 10 * M - timedelta(seconds=1)) == []
    warning = wf.tick(t + 10 * M)
    assert warning == [SendNotice("c1", NOTICES.inactivity_notice(5))]
    assert "5 minutes" in warning[0].notice.body  # type: ignore[union-attr]
    assert wf.conversation("c1").warned
    assert wf.tick(t + 15 * M - timedelta(seconds=1)) == []
    assert wf.tick(t + 15 * M) == [
        SendNotice("c1", NOTICES.closing_notice()),
        CloseConversation("c1", CloseReason.INACTIVITY),
    ]
    assert wf.open_conversations() == []
    assert wf.tick(t + 30 * M) == []


def test_participant_reply_clears_the_warning() -> None:
    wf, clock = build()
    started(wf, clock)
    clock.advance(minutes=10)
    assert kinds(wf.tick()) == ["notice:inactivity"]
    clock.advance(minutes=2)
    wf.participant_message("c1")
    assert not wf.conversation("c1").warned
    clock.advance(minutes=30)
    assert wf.tick() == []  # the participant wrote last: it is staff's turn
    wf.staff_message("c1")
    clock.advance(minutes=10)
    assert kinds(wf.tick()) == ["notice:inactivity"]


def test_no_inactivity_timer_while_waiting_or_before_staff_writes() -> None:
    wf, clock = build()
    wf.conversation_opened("c1")
    clock.advance(hours=2)
    assert wf.tick() == []
    wf.claim("c1", "ana")
    clock.advance(hours=1)
    assert [a for a in wf.tick() if isinstance(a, SendNotice)] == []


def test_a_long_pause_of_the_node_still_warns_before_closing() -> None:
    wf, clock = build()
    started(wf, clock)
    clock.advance(hours=3)
    assert kinds(wf.tick()) == ["notice:inactivity"]
    clock.advance(minutes=5)
    assert kinds(wf.tick()) == ["notice:closing", "CloseConversation"]


def test_inactivity_timers_are_settings() -> None:
    settings = WorkflowSettings(
        inactivity_warning_after=timedelta(minutes=3),
        inactivity_close_after=timedelta(minutes=2, seconds=30),
    )
    wf, clock = build(settings=settings)
    started(wf, clock)
    clock.advance(minutes=3)
    warning = wf.tick()
    assert warning == [SendNotice("c1", NOTICES.inactivity_notice(3))]  # 2.5 min -> "3"
    clock.advance(minutes=2, seconds=30)
    assert kinds(wf.tick()) == ["notice:closing", "CloseConversation"]


def test_staff_close_sends_the_closing_notice_first() -> None:
    wf, _ = build()
    wf.conversation_opened("c1")
    assert wf.close("c1") == [
        SendNotice("c1", NOTICES.closing_notice()),
        CloseConversation("c1", CloseReason.STAFF),
    ]
    with pytest.raises(UnknownConversation):
        wf.close("c1")


def test_participant_left() -> None:
    wf, _ = build()
    wf.conversation_opened("c1")
    assert wf.participant_left("c1") == []
    assert wf.open_conversations() == []
    with pytest.raises(UnknownConversation):
        wf.participant_message("c1")


def test_staff_message_needs_an_assignee() -> None:
    wf, _ = build()
    wf.conversation_opened("c1")
    with pytest.raises(InvalidState):
        wf.staff_message("c1")


# -- duress --------------------------------------------------------------------------------


def test_duress_alerts_the_assignee_and_supervisors() -> None:
    wf, _ = build()
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    assert wf.duress("c1") == [UrgentAlert("c1", "duress", ("ben", "sue"), "ben")]
    assert wf.conversation("c1").urgent


def test_duress_while_waiting_goes_to_the_head_of_the_queue() -> None:
    wf, clock = build()
    wf.conversation_opened("c1")
    clock.advance(seconds=5)
    wf.conversation_opened("c2")
    assert wf.duress("c2") == [UrgentAlert("c2", "duress", ("sue",), None)]
    assert wf.waiting() == ["c2", "c1"]
    assert wf.take_next("ana")[0] == Assigned("c2", "ana", AssignReason.CLAIM)


def test_duress_without_a_supervisor_alerts_everyone_on_shift() -> None:
    wf, _ = build(staff=(member("ana", T0, T0 + 8 * H), member("ben", T0, T0 + 8 * H)))
    wf.conversation_opened("c1")
    assert wf.duress("c1") == [UrgentAlert("c1", "duress", ("ana", "ben"), None)]


# -- code words ---------------------------------------------------------------------------


def test_code_word_request_and_check() -> None:
    wf, clock = build()
    wf.codewords.set("Blue Heron", "lighthouse", clock.now())
    wf.conversation_opened("c1")
    wf.claim("c1", "ana")
    request = wf.request_code_word("c1", " Blue  HERON ")
    assert request == [RequestCodeWord("c1", "blue heron", NOTICES.code_word_request_notice())]
    first = request[0]
    assert isinstance(first, RequestCodeWord)
    notice, ask = first.to_payloads(1_767_603_600_000)
    assert isinstance(notice, payload.Notice) and notice.kind == "code_word_request"
    assert ask == payload.CodeWordRequest(alias="blue heron", ts=1_767_603_600_000)
    for alias in ("  ", "a" * 65, "\ud800"):  # what a code_word_request cannot carry
        with pytest.raises(InvalidSetting):
            wf.request_code_word("c1", alias)
    assert not wf.check_code_word("c1", "blue heron", "wrong").verified
    assert wf.check_code_word("c1", "blue heron", "Lighthouse").verified
    with pytest.raises(UnknownConversation):
        wf.check_code_word("c9", "blue heron", "lighthouse")


def test_closing_forgets_the_conversation_attempts() -> None:
    wf, clock = build()
    wf.codewords.set("alias", "lighthouse", clock.now())
    wf.conversation_opened("c1")
    for _ in range(3):
        wf.check_code_word("c1", "alias", "wrong")
    assert wf.check_code_word("c1", "alias", "lighthouse").outcome.value == "locked"
    wf.close("c1")
    wf.conversation_opened("c1")
    assert wf.check_code_word("c1", "alias", "lighthouse").verified


# -- status and "no new chats" ---------------------------------------------------------------


def weekday_hours() -> WeeklyHours:
    return WeeklyHours("UTC", tuple(OpeningSpan.parse(d, "09:00", "17:00") for d in range(5)))


def test_arrival_while_closed_gets_the_closed_notice_and_is_closed() -> None:
    wf, clock = build(status=StatusKeeper(weekday_hours()))
    clock.set(T0 + 9 * H)  # 18:00
    assert wf.conversation_opened("c1") == [
        SendNotice("c1", NOTICES.closed_now_notice()),
        CloseConversation("c1", CloseReason.CLOSED_HOURS),
    ]
    assert wf.open_conversations() == []
    assert not wf.accepting_new()


def test_arrival_during_an_outage_is_refused() -> None:
    keeper = StatusKeeper(weekday_hours())
    keeper.set_override(StatusState.OUTAGE)
    wf, _ = build(status=keeper)
    assert kinds(wf.conversation_opened("c1")) == ["notice:closing", "CloseConversation"]


def test_status_is_published_and_follows_capacity() -> None:
    keeper = StatusKeeper(weekday_hours())
    wf, clock = build(status=keeper, settings=WorkflowSettings(max_active_per_staff=1))
    first = wf.tick()
    assert len(first) == 1 and isinstance(first[0], PublishStatus)
    assert first[0].body.state is StatusState.OPEN
    keeper.published(first[0].body)
    assert wf.tick() == []
    assert wf.accepting_new()
    for cid in ("c1", "c2", "c3"):  # three eligible staff, one conversation each
        wf.conversation_opened(cid)
    assert wf.at_capacity() and not wf.accepting_new()
    busy = wf.tick()
    assert isinstance(busy[0], PublishStatus) and busy[0].body.state is StatusState.BUSY
    keeper.published(busy[0].body)
    wf.conversation_opened("c4")  # busy still queues
    assert wf.waiting()[-1] == "c4"
    clock.advance(minutes=10)
    again = [a for a in wf.tick() if isinstance(a, PublishStatus)]
    assert again and again[0].body.state is StatusState.BUSY  # re-signed before expiry


def test_without_a_status_keeper_capacity_decides() -> None:
    wf, _ = build(staff=(member("ana", T0, T0 + 8 * H),),
                  settings=WorkflowSettings(max_active_per_staff=1))  # fmt: skip
    assert wf.accepting_new()
    wf.conversation_opened("c1")
    assert not wf.accepting_new()


# -- determinism --------------------------------------------------------------------------


def scenario() -> list[Action]:
    wf, clock = build()
    out: list[Action] = []
    for i in range(4):
        out += wf.conversation_opened(f"c{i}")
        clock.advance(seconds=30)
    out += wf.take_next("ana") + wf.take_next("ben") + wf.take_next("ben")
    wf.staff_message("c0")
    wf.staff_message("c1")
    out += wf.duress("c3")
    for _ in range(60):
        clock.advance(minutes=5)
        out += wf.tick()
    return out


def test_same_calls_same_actions() -> None:
    first = scenario()
    assert first == scenario()
    assert any(isinstance(a, CloseConversation) for a in first)
    assert any(
        isinstance(a, Assigned) and a.reason is AssignReason.SHIFT_CHANGE for a in first
    ) or any(isinstance(a, HandoffNeeded) for a in first)
    assert NoticeKind.INACTIVITY in {a.notice.kind for a in first if isinstance(a, SendNotice)}


# -- restart ------------------------------------------------------------------------------


def test_restart_keeps_queue_assignments_and_timers() -> None:
    wf, clock = build()
    started(wf, clock)  # c1 held by ana, staff wrote at T0 + 1 min
    clock.advance(seconds=5)
    wf.conversation_opened("c2")
    wf.duress("c2")
    clock.advance(minutes=10)
    assert kinds(wf.tick()) == ["notice:inactivity"]
    snapshot = wf.export_state()

    again, _ = build(clock)
    again.import_state(snapshot)
    assert again.export_state() == snapshot
    assert again.open_conversations() == ["c1", "c2"]
    assert again.assigned("ana") == ["c1"] and again.waiting() == ["c2"]
    assert again.conversation("c1").warned and again.conversation("c2").urgent
    clock.advance(minutes=5)
    assert kinds(again.tick()) == ["notice:closing", "CloseConversation"]
    again.conversation_opened("c3")
    assert again.waiting() == ["c2", "c3"]  # arrival numbers continue


def test_restart_without_the_assignee_puts_the_conversation_back_in_the_queue() -> None:
    wf, clock = build()
    wf.conversation_opened("c1")
    wf.claim("c1", "ben")
    again, _ = build(clock, staff=(member("ana", T0, T0 + 8 * H),))
    again.import_state(wf.export_state())
    assert again.waiting() == ["c1"]
    assert again.take_next("ana") == [
        Assigned("c1", "ana", AssignReason.CLAIM, "ben"),
        SendNotice("c1", NOTICES.shift_change_notice()),
    ]


def test_restart_before_the_staff_is_registered_keeps_place_and_urgency() -> None:
    """A program node imports its state before the integrator's ``set_staff``: a held
    conversation goes back to the queue in its own place, not made urgent."""
    wf, clock = build()
    wf.conversation_opened("c1")
    clock.advance(seconds=5)
    wf.conversation_opened("c2")
    wf.claim("c2", "ana")
    clock.advance(seconds=5)
    wf.conversation_opened("c3")
    wf.duress("c3")
    again, _ = build(clock, staff=())
    again.import_state(wf.export_state(), staff_pending=True)
    assert again.waiting() == ["c3", "c1", "c2"]  # the urgent one first, then arrival
    assert [again.conversation(c).urgent for c in ("c1", "c2", "c3")] == [False, False, True]
    assert again.conversation("c2").assigned_to is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        b"[]",
        b'{"v":2,"seq":0,"conversations":[]}',
        b'{"v":1,"seq":"0","conversations":[]}',
        b'{"v":1,"seq":0,"conversations":[1]}',
        b'{"v":1,"seq":0,"conversations":[{"id":"c"}]}',
        b'{"v":1,"seq":1,"conversations":[{"id":"c","seq":1,"opened_at":"2026-01-05T09:00:00",'
        b'"assigned_to":null,"previous":null,"urgent":false,"last_participant_at":null,'
        b'"last_staff_at":null,"warned_at":null}]}',
        b'{"v":1,"seq":1,"conversations":[{"id":"c","seq":1,"opened_at":null,'
        b'"assigned_to":null,"previous":null,"urgent":false,"last_participant_at":null,'
        b'"last_staff_at":null,"warned_at":null}]}',
        b'{"v":1,"seq":1,"conversations":[{"id":"c","seq":1,"opened_at":"2026-01-05T09:00:00+00:00",'
        b'"assigned_to":5,"previous":null,"urgent":false,"last_participant_at":null,'
        b'"last_staff_at":null,"warned_at":null}]}',
    ],
)
def test_malformed_state_is_refused_and_changes_nothing(data: bytes) -> None:
    wf, _ = build()
    wf.conversation_opened("keep")
    with pytest.raises(InvalidSetting):
        wf.import_state(data)
    assert wf.open_conversations() == ["keep"]


@pytest.mark.parametrize(
    "bad",
    [
        {"shift_end_buffer": timedelta(minutes=-1)},
        {"inactivity_warning_after": timedelta(0)},
        {"inactivity_close_after": timedelta(0)},
        {"max_active_per_staff": 0},
    ],
)
def test_settings_are_checked(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidSetting):
        WorkflowSettings(**bad)  # type: ignore[arg-type]


def test_defaults_follow_the_guide() -> None:
    settings = WorkflowSettings()
    assert settings.shift_end_buffer == timedelta(minutes=30)
    assert settings.send_safety_check_in and not settings.send_rights_notice
