"""The socket mailbox's write paths, in process: at once when idle, through its task when a
send suspends (another server, flow control), in order either way.

uvicorn suspends a WebSocket send only while its transport paused writing (a client
reading too slowly), so the suspending path is driven here with a socket whose send
waits on a gate; the mailbox's task must take over the send while it is still waiting."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

import pytest
from relay_helpers import enroll_program, open_conversation

from client_sdk.transport import MAX_FRAME
from server import messages
from server.relay import dumps
from server.settings import PUSH_FRAME_LIMIT, Settings
from server.storage import Principal
from server.ws import PUSH_OVERHEAD, Inflight, Mailbox, _take

TIMEOUT = 5.0
PARTICIPANT = Principal(conversation_id=bytes(16), slot=0)


class Socket:
    """What the mailbox uses of the server's ASGI ``send`` (:meth:`send`) and of a
    Starlette WebSocket (``close``); ``gate`` holds every send."""

    def __init__(self, *, gated: bool = False, fail: BaseException | None = None) -> None:
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self.gate = asyncio.Event()
        if not gated:
            self.gate.set()
        self.fail = fail

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "websocket.close":  # the mailbox closes a slow reader itself
            self.closed_with = message["code"]
            return
        assert message.keys() == {"type", "text"} and message["type"] == "websocket.send"
        if self.fail is not None:
            raise self.fail
        if not self.gate.is_set():
            await self.gate.wait()
        self.sent.append(message["text"])

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code


def mailbox(ws: Socket, who: Principal = PARTICIPANT, **settings: Any) -> Mailbox:
    relay = SimpleNamespace(settings=Settings(**settings))  # the relay serves only start()
    return Mailbox(ws, relay, who, send=ws.send)  # type: ignore[arg-type]


async def task_waiting(box: Mailbox) -> None:
    """Let the mailbox's task take its first step: it now waits on the gate."""
    await asyncio.sleep(0)
    assert box._task is not None and not box._task.done() and not box.closed


async def idle(box: Mailbox) -> None:
    """Wait until the mailbox's task (if any) ended."""
    task: Any = box._task
    if task is not None:
        await asyncio.wait_for(task, TIMEOUT)


async def test_an_idle_mailbox_writes_at_once_without_a_task() -> None:
    ws = Socket()
    box = mailbox(ws)
    box.put_nowait('{"type":"sent"}')
    box.put_nowait({"type": "message", "id": "a"})
    assert ws.sent == ['{"type":"sent"}', '{"type":"message","id":"a"}']
    assert box._task is None


async def test_a_suspended_send_finishes_in_a_task_before_what_queued_behind_it() -> None:
    ws = Socket(gated=True)
    box = mailbox(ws)
    box.put_nowait("first")
    assert box._task is not None and ws.sent == []
    box.put_nowait("second")
    box.put_nowait({"type": "message", "id": "x"})
    await task_waiting(box)
    ws.gate.set()
    await idle(box)
    assert ws.sent == ["first", "second", '{"type":"message","id":"x"}']
    assert box._task is None
    box.put_nowait("third")  # idle again: at once
    assert ws.sent[-1] == "third" and box._task is None


async def test_stopping_during_a_suspended_send_cancels_it_cleanly() -> None:
    ws = Socket(gated=True)
    box = mailbox(ws)
    box.put_nowait("never")
    box.put_nowait("queued")
    await task_waiting(box)
    await asyncio.wait_for(box.stop(), TIMEOUT)
    ws.gate.set()
    assert ws.sent == []
    box.put_nowait("after stop")
    assert ws.sent == []


async def test_a_send_that_fails_at_once_marks_the_mailbox_closed() -> None:
    ws = Socket(fail=OSError("gone"))
    box = mailbox(ws)
    box.put_nowait("lost")
    assert box.closed and box._task is None
    box.put_nowait("ignored")
    assert ws.sent == []


async def test_an_unexpected_send_failure_stays_with_its_socket(caplog) -> None:
    """The publisher (another connection's handler, the writer's callback) never sees it;
    the log names the exception's type only, never its message."""
    ws = Socket(fail=ValueError("frame text that must not be logged"))
    box = mailbox(ws)
    box.put_nowait("lost")  # does not raise
    assert box.closed and box._task is None
    assert "ValueError" in caplog.text and "must not be logged" not in caplog.text


async def test_a_send_that_fails_after_suspending_marks_the_mailbox_closed() -> None:
    ws = Socket(gated=True)
    box = mailbox(ws)
    box.put_nowait("first")
    await task_waiting(box)
    ws.fail = RuntimeError("closed meanwhile")
    box.put_nowait("second")
    ws.gate.set()
    await idle(box)
    assert ws.sent == ["first"] and box.closed


async def test_a_closed_event_goes_through_the_task_and_closes_a_participant_socket() -> None:
    ws = Socket()
    box = mailbox(ws)
    box.put_nowait({"type": "closed", "conversation_id": "c"})
    await idle(box)
    assert ws.sent == ['{"type":"closed","conversation_id":"c"}']
    assert ws.closed_with == 1000 and box.closed


async def test_a_live_message_already_sent_from_the_pending_pages_is_dropped(relay) -> None:
    program = await enroll_program(relay.client, relay.db, relay.origin, prekeys=0)
    await open_conversation(relay.client, program)
    who = Principal(program_id=program.keys.program_id)
    (init,), _ = await relay.relay.pending(who)
    ws = Socket()
    box = Mailbox(ws, relay.relay, who, send=ws.send)
    box.start()
    box.put_nowait(init)  # its live push, published while the pages are read
    await idle(box)
    assert ws.sent == ['{"type":"ready"}', dumps(init)]
    box.put_nowait({"type": "conversation", "conversation_id": "c"})
    assert ws.sent[-1] == '{"type":"conversation","conversation_id":"c"}'


async def test_an_ack_the_writer_fails_is_answered_unavailable(relay, monkeypatch) -> None:
    """A write that fails (not a refusal) answers the ack's frame with ``unavailable``,
    as it does a send: the node then knows its ack did not take and may send it again."""
    program = await enroll_program(relay.client, relay.db, relay.origin, prekeys=0)
    await open_conversation(relay.client, program)
    who = Principal(program_id=program.keys.program_id)
    (init,), _ = await relay.relay.pending(who)

    def broken(*_args: Any) -> list[int]:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(messages.AckOp, "run_many", classmethod(broken))
    ws, inflight = Socket(), Inflight()
    frame = json.dumps({"type": "ack", "request_id": 7, "ids": [init["id"]]})
    assert _take(relay.relay, who, frame, mailbox(ws, who), inflight)
    await asyncio.wait_for(inflight.below(1), TIMEOUT)
    assert [json.loads(t) for t in ws.sent] == [
        {"type": "error", "request_id": 7, "code": "unavailable", "message": "Try again."}
    ]


# -- batched pushes (a socket that asked with "batch": true) ---------------------------------


def batching(ws: Socket, limit: int = 256 * 1024, who: Principal = PARTICIPANT) -> Mailbox:
    relay = SimpleNamespace(settings=Settings(max_push_batch_bytes=limit))
    return Mailbox(ws, relay, who, send=ws.send, batch=True)  # type: ignore[arg-type]


def message(n: int, size: int = 4) -> dict[str, str]:
    return {"type": "message", "id": f"m{n}", "conversation_id": "c", "envelope": "e" * size}


def batch_of(*events: dict[str, str]) -> str:
    return '{"type":"messages","messages":[' + ",".join(dumps(e) for e in events) + "]}"


async def next_turn() -> None:
    """Let the event loop run the callbacks scheduled in this turn (the batch's flush)."""
    await asyncio.sleep(0)


async def test_messages_of_one_turn_go_out_in_one_frame_at_its_end() -> None:
    ws = Socket()
    box = batching(ws)
    for n in range(3):
        box.put_nowait(message(n))
    assert ws.sent == []  # not yet: more may come in this turn (the rest of the commit)
    await next_turn()
    assert ws.sent == [batch_of(message(0), message(1), message(2))]
    assert json.loads(ws.sent[0])["messages"][1] == message(1)
    box.put_nowait(message(3))
    await next_turn()
    assert ws.sent[-1] == batch_of(message(3)) and box._task is None


async def test_any_other_push_sends_the_open_batch_first() -> None:
    ws = Socket()
    box = batching(ws, who=Principal(program_id=bytes(32)))
    box.put_nowait(message(0))
    box.put_nowait('{"type":"sent","request_id":1,"message_ids":[]}')
    box.put_nowait(message(1))
    box.put_nowait({"type": "closed", "conversation_id": "c"})
    await idle(box)
    await next_turn()
    assert ws.sent == [
        batch_of(message(0)),
        '{"type":"sent","request_id":1,"message_ids":[]}',
        batch_of(message(1)),
        '{"type":"closed","conversation_id":"c"}',
    ]


async def test_a_full_batch_goes_at_once_and_a_big_message_goes_alone() -> None:
    ws = Socket()
    one = 4 + PUSH_OVERHEAD  # the text a message of a 4-byte envelope counts for
    box = batching(ws, limit=2 * one + 1)
    box.put_nowait(message(0, size=4))
    box.put_nowait(message(1, size=4))
    assert ws.sent == []
    box.put_nowait(message(2, size=4))  # past the limit: full
    assert ws.sent == [batch_of(message(0), message(1), message(2))]
    box.put_nowait(message(3, size=3 * one))
    assert ws.sent[-1] == batch_of(message(3, size=3 * one))
    box.put_nowait(message(4))
    await next_turn()
    assert ws.sent[-1] == batch_of(message(4)) and len(ws.sent) == 3


def test_a_push_never_outgrows_the_frame_a_client_takes() -> None:
    """Settings refuse a batch limit that, with the largest envelope, would make a push
    larger than the SDK's frame limit (the program node would be cut off forever)."""
    assert PUSH_FRAME_LIMIT == MAX_FRAME
    Settings()  # the defaults fit
    with pytest.raises(ValueError, match="max_push_batch_bytes"):
        Settings(max_push_batch_bytes=1024 * 1024)
    with pytest.raises(ValueError, match="max_push_batch_bytes"):
        Settings(max_envelope_size=700 * 1024)


async def test_a_batch_behind_a_suspended_send_waits_its_turn() -> None:
    ws = Socket(gated=True)
    box = batching(ws)
    box.put_nowait("first")
    box.put_nowait(message(0))
    box.put_nowait(message(1))
    await task_waiting(box)
    ws.gate.set()
    await idle(box)
    assert ws.sent == ["first", batch_of(message(0), message(1))]


async def test_a_batch_still_open_when_the_socket_stops_is_never_sent() -> None:
    ws = Socket()
    box = batching(ws)
    box.put_nowait(message(0))
    await box.stop()
    await next_turn()
    assert ws.sent == []


async def test_a_socket_without_batch_gets_one_frame_per_message() -> None:
    ws = Socket()
    box = mailbox(ws)
    box.put_nowait(message(0))
    box.put_nowait(message(1))
    assert ws.sent == [dumps(message(0)), dumps(message(1))]


async def test_batched_pending_pages_and_live_duplicates(relay) -> None:
    """After ``ready`` the pending messages come batched too; a live push of one of them
    is dropped from its batch, and a batch left empty is not sent at all."""
    program = await enroll_program(relay.client, relay.db, relay.origin, prekeys=0)
    await open_conversation(relay.client, program)
    await open_conversation(relay.client, program)
    who = Principal(program_id=program.keys.program_id)
    (init1, init2), _ = await relay.relay.pending(who)
    ws = Socket()
    box = Mailbox(ws, relay.relay, who, send=ws.send, batch=True)
    box.start()
    box.put_nowait(init2)  # its live push, published while the pages are read
    await idle(box)
    await next_turn()
    assert ws.sent == ['{"type":"ready"}', batch_of(init1, init2)]
    fresh = message(9)
    box.put_nowait(init1)  # a late duplicate, batched with a new message
    box.put_nowait(fresh)
    await next_turn()
    assert ws.sent[-1] == batch_of(fresh) and len(ws.sent) == 3


async def test_a_socket_that_does_not_read_is_closed_once_its_queue_is_full() -> None:
    ws = Socket(gated=True)
    box = mailbox(ws, max_socket_queue_bytes=100_000)
    frame = '{"type":"error","message":"' + "x" * 10_000 + '"}'
    box.put_nowait(frame)  # written at once: suspends on the gate, in a task
    await task_waiting(box)
    for _ in range(9):
        box.put_nowait(frame)
    assert not box.overflowed and box.queued > 80_000
    box.put_nowait(frame)
    box.put_nowait(frame)
    assert box.overflowed and box.closed and box._items is None and box.queued == 0
    await idle(box)
    assert ws.closed_with == 4008
    box.put_nowait(frame)  # nothing more is queued
    assert box._items is None
