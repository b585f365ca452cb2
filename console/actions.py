"""What staff do: shifts, claim, take next, send, typing, code word, transfer, escalate,
end, block, alerts, and an admin disabling an account.

Every action checks ``who`` first (the same :class:`~console.errors.NotFound` for an
unknown and an invisible conversation), then asks the workflow through the
``ProgramClient``; the workflow's refusals come back as
:class:`~console.errors.NotAllowed` / :class:`~console.errors.Conflict` in plain
words. Actions are async.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from client_sdk import progress
from client_sdk import workflow as wf
from client_sdk.errors import ConversationClosed, RelayError
from console import rota, staffing
from console.accounts import Account, Role
from console.errors import Conflict, Forbidden, NotAllowed, NotFound
from console.passwords import Busy
from console.updates import ConsoleUpdates

log = logging.getLogger("console.node")

MAX_MESSAGE = 4000


class ConsoleActions(ConsoleUpdates):
    """What staff do: shifts, claim, take next, send, code word, transfer, escalate, end,"""

    async def sign_in(self, name: str, password: str) -> Account | None:
        """The account if the password is right and it is enabled.

        Argon2id runs in the node's password pool (:mod:`console.passwords`: bounded,
        never on the event loop; :class:`~console.passwords.Busy` when full); the
        keystore is read and written on the loop only (it is not thread-safe). A hash
        made with older parameters is replaced, in the pool too."""
        record = self.accounts.lookup(name)
        ok = await self.passwords.run(self.accounts.check, record, password)
        account = self.accounts.conclude(record, ok)
        if account is not None and record is not None and self.accounts.needs_rehash(record):
            with contextlib.suppress(Busy):  # the next sign-in upgrades it
                new = await self.passwords.run(self.accounts.make_hash, password)
                if self.accounts.replace_hash(account.staff_id, str(record["hash"]), new):
                    await self.program.save()
        return account

    async def disable_account(self, who: Account | None, staff_id: str) -> None:
        """An admin (or, ``who`` None, the operator at the node's shell through the
        control socket) disables an account: it is signed out everywhere, its work
        handed off."""
        if who is not None:
            me = self._current(who)
            if me.role is not Role.ADMIN:
                raise Forbidden("Only an admin can disable an account.")
            if staff_id == me.staff_id:
                raise NotAllowed("You cannot disable your own account.")
        target = self.account(staff_id)
        if target is None:
            raise NotFound("There is no such staff account.")
        await self.go_off_shift(target)
        self.accounts.disable(staff_id)
        await self.program.save()
        self._reload_staff()
        with contextlib.suppress(wf.WorkflowError):
            self.workflow.remove_staff(staff_id)
        self._hub.end_account(staff_id, {"type": "signed_out"})
        self._changed()

    @contextlib.contextmanager
    def _refusals(self) -> Iterator[None]:
        """The workflow's and the SDK's refusals, in the console's words."""
        try:
            yield
        except (wf.UnknownConversation, ConversationClosed):
            raise NotFound() from None
        except wf.UnknownStaff:
            raise NotFound("There is no such colleague.") from None
        except wf.InvalidState:
            raise Conflict() from None
        except wf.NoOneAvailable:
            raise NotAllowed("No supervisor is on shift.") from None
        except wf.NotEligible:
            raise NotAllowed("They cannot take a new conversation now.") from None
        except RelayError:
            raise NotAllowed("The relay did not answer. Try again in a moment.") from None

    def _holder_or_supervisor(self, who: Account, cid: str) -> tuple[Account, wf.ConversationView]:
        me = self._current(who)
        view = self._visible(me, cid)
        return me, view

    async def go_on_shift(self, who: Account, until_ms: int | None = None) -> None:
        """Start (or extend) ``who``'s shift until ``until_ms``; without it, until the end
        of ``who``'s rota slot running now (console/rota.py), else the usual length."""
        me = self._current(who)
        now = self._now()
        longest = now + timedelta(minutes=self.settings.max_shift_minutes)
        if until_ms is None:
            ks = self.program.keystore
            slot = rota.Rota(ks).current(me.staff_id, now, rota.program_zone(ks))
            if slot is not None and slot[1] > now + timedelta(minutes=1):
                end = min(slot[1], longest)
            else:
                end = now + timedelta(minutes=self.settings.default_shift_minutes)
        else:
            end = datetime.fromtimestamp(until_ms / 1000, now.tzinfo)
        if end <= now + timedelta(minutes=1):
            raise NotAllowed("A shift must end in the future.")
        if end > now + timedelta(minutes=self.settings.max_shift_minutes):
            most = self.settings.max_shift_minutes  # --max-shift-minutes: any whole minutes
            most_text = f"{most // 60} hours" if most % 60 == 0 and most > 60 else f"{most} minutes"
            raise NotAllowed(f"A shift is at most {most_text}.")
        member = self._member(me.staff_id)
        start = now
        if member is not None and member.on_shift(now):
            current = self._shifts.get(me.staff_id)
            start = current.start if current is not None else now
        shift = wf.Shift(start, end)
        self._shifts.set(me.staff_id, shift)
        self.workflow.set_staff(staffing.member(me, shift))
        await self.program.save()
        await self.program.tick()  # the status follows at once
        self._changed()

    async def go_off_shift(self, who: Account) -> None:
        """End ``who``'s shift now; their conversations are handed to colleagues."""
        me = self._staff.get(who.staff_id) or who
        self._shifts.set(me.staff_id, None)
        self.workflow.set_staff(staffing.member(me, None))
        await self.program.save()
        with self._refusals():
            await self.program.hand_off(me.staff_id)
            await self.program.tick()
        for alert_id in [
            a.id
            for a in self._alerts.values()
            if a.kind == "shift_ending" and me.staff_id in a.notify
        ]:
            del self._alerts[alert_id]
        self._changed()

    async def claim(self, who: Account, conversation_id: str) -> None:
        """Take a waiting conversation; a supervisor or admin may also take one over."""
        me = self._current(who)
        view = self._view(conversation_id)
        if view is None:
            raise NotFound()
        if view.assigned_to == me.staff_id:
            return
        if view.assigned_to is not None:
            if me.role.supervises:
                await self.transfer(me, conversation_id, me.staff_id)
                return
            if conversation_id in self._shown_waiting.get(me.staff_id, set()):
                raise Conflict("Someone else took this conversation first.")
            raise NotFound()
        refusal = self._refusal(me, self._now(), me=True)
        if refusal is not None:
            raise NotAllowed(refusal)
        with self._refusals():
            await self.program.claim(conversation_id, me.staff_id)
        self._holders[conversation_id] = me.staff_id

    async def take_next(self, who: Account) -> str | None:
        """Take the first waiting conversation: its id, or None when nobody waits."""
        me = self._current(who)
        if not self._waiting():
            return None
        refusal = self._refusal(me, self._now(), me=True)
        if refusal is not None:
            raise NotAllowed(refusal)
        with self._refusals():
            return await self.program.take_next(me.staff_id)

    async def send(self, who: Account, conversation_id: str, text: str) -> dict[str, Any]:
        """Send ``text`` as ``who`` (who must hold the conversation); its timeline entry."""
        me = self._current(who)
        view = self._visible(me, conversation_id)
        if view.assigned_to != me.staff_id:
            raise NotAllowed("Take this conversation over before you write in it.")
        body = text.strip()
        if not body or len(body) > MAX_MESSAGE:
            raise NotAllowed(f"A message is 1 to {MAX_MESSAGE} characters.")
        with self._refusals():
            await self.program.send(conversation_id, text)
        entry = self._entry(conversation_id, "message", "staff", text, staff_name=me.name)
        assert entry is not None
        return entry

    async def typing(self, who: Account, conversation_id: str, active: bool = True) -> bool:
        """Tell the participant that ``who`` is writing (or stopped), inside the session
        like every message: the relay sees one more ciphertext, never what it says. Only
        the holder's writing is told; the node sends at most one "writing" every few
        seconds per conversation (:data:`client_sdk.progress.TYPING_MIN_INTERVAL_MS`).
        Returns whether a message went out."""
        me = self._current(who)
        view = self._visible(me, conversation_id)
        if view.assigned_to != me.staff_id:
            return False  # reading a colleague's conversation is not writing in it
        with self._refusals():
            return await progress.send_typing(self.program, conversation_id, active)

    async def ask_code_word(self, who: Account, conversation_id: str, alias: str) -> None:
        """Ask the participant for the code word of ``alias``; the answer comes as an update."""
        me = self._current(who)
        view = self._visible(me, conversation_id)
        if view.assigned_to != me.staff_id:
            raise NotAllowed("Take this conversation over before you ask for the code word.")
        if alias not in self.code_word_aliases(me):
            raise NotAllowed("There is no code word by that name.")
        with self._refusals():
            await self.program.request_code_word(conversation_id, alias)
        transcript = self.program.transcript(conversation_id)
        notice = self._timelines[conversation_id].last_notice_text(transcript, "code_word_request")
        if notice:
            self._entry(
                conversation_id, "notice", "program", notice, notice_kind="code_word_request"
            )
        self._entry(
            conversation_id, "event", "staff", f"{me.name} asked for the code word ({alias})."
        )

    async def transfer(self, who: Account, conversation_id: str, to_staff_id: str) -> None:
        """Hand the conversation to a colleague on shift (the participant is told)."""
        me, view = self._holder_or_supervisor(who, conversation_id)
        target = self.account(to_staff_id)
        if target is None:
            raise NotFound("There is no such colleague.")
        if view.assigned_to is None:
            raise NotAllowed("This conversation is waiting: take it from the queue instead.")
        if view.assigned_to == to_staff_id:
            raise Conflict(f"{target.name} already has this conversation.")
        if not target.role.supervises:
            refusal = self._refusal(target, self._now(), me=target.staff_id == me.staff_id)
            if refusal is not None:
                raise NotAllowed(refusal)
        else:
            member = self._member(target.staff_id)
            if member is None or not member.on_shift(self._now()):
                raise NotAllowed(f"{target.name} is not on shift.")
        with self._refusals():
            await self.program.transfer(conversation_id, to_staff_id)
        self.statistics.transferred(self._now())

    async def escalate(self, who: Account, conversation_id: str) -> None:
        """Hand the conversation to the supervisor on shift with the fewest."""
        self._holder_or_supervisor(who, conversation_id)
        with self._refusals():
            await self.program.escalate(conversation_id)
        self.statistics.escalated(self._now())

    async def end(self, who: Account, conversation_id: str) -> None:
        """End the conversation: the closing notice first, then the close."""
        self._holder_or_supervisor(who, conversation_id)
        await self._staff_close(conversation_id)

    async def _staff_close(self, conversation_id: str) -> None:
        """Close as staff (statistics count who ended it)."""
        self.statistics.staff_ending(conversation_id)
        try:
            with self._refusals():
                await self.program.close(conversation_id, reason="closed")
        except BaseException:
            self.statistics.staff_ending(conversation_id, False)
            raise

    async def block(self, who: Account, conversation_id: str) -> None:
        """Supervisors and admins: end an abusive conversation and refuse anything more
        from it. Participants are anonymous, so this cannot stop the same person from
        opening a new conversation (see docs/console.md)."""
        me = self._current(who)
        if not me.role.supervises:
            raise Forbidden()
        self._visible(me, conversation_id)
        await self._staff_close(conversation_id)
        log.info("a supervisor blocked a conversation")

    async def ack_alert(self, who: Account, alert_id: str) -> None:
        """Acknowledge an alert: it goes for everyone it was shown to."""
        me = self._current(who)
        alert = self._alerts.get(alert_id)
        if alert is None or me.staff_id not in alert.notify:
            raise NotFound("There is no such alert.")
        del self._alerts[alert_id]
        self._changed()
