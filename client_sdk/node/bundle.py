"""What the node publishes on the relay: prekeys, profile and status, and their check.

Security properties:

- Prekey secrets are saved in the keystore before their public halves are published;
  the decisions are the workflow's (:mod:`client_sdk.workflow.prekeys`).
- On connect, the node fetches its own public record from the relay and checks that the
  relay serves the identity key, profile and status it signed (constant-time compare).
- Rollback: the node keeps its store's generation on the relay too, sealed (only the
  node can read it) and signed by the identity key (the relay cannot forge a newer
  one), and at sign-in refuses to resume anything from a store older than the newest
  of that and the local witness (:mod:`client_sdk.vault.witness`). A relay that
  withholds it or hands back an older one only leaves the local witness to decide.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from client_sdk import conversation as conv
from client_sdk import publishing, store
from client_sdk import workflow as wf
from client_sdk.errors import SDKError, VerificationFailure
from client_sdk.node.transport import NodeTransport
from client_sdk.workflow.checkin import use_profile_check_in
from client_sdk.workflow.prekeys import (
    expired_one_time_prekeys,
    one_time_prekeys_to_generate,
    plan_signed_prekeys,
)
from e2ee.encoding import b64u_decode, b64u_encode
from e2ee.errors import QuietlineError
from e2ee.identity import (
    LABEL_GENERATION,
    SignedObject,
    sign_profile,
    sign_status,
    verify_signature,
)
from e2ee.primitives import constant_time_equal

log = logging.getLogger("client_sdk.program")


class NodeBundle(NodeTransport):
    """Prekeys, profile and status on the relay."""

    async def maintain(self) -> None:
        """Rotate the signed prekey, replenish one-time prekeys, re-sign the status.

        The decisions are the workflow's (:mod:`client_sdk.workflow.prekeys`); secrets
        are saved in the keystore before their public halves are published. Runs are
        serialized (the timer, the check after new conversations and a caller's call
        never interleave), so when this returns every decision so far is published.
        """
        async with self._maintaining:
            await self._maintain()

    async def _maintain(self) -> None:
        moment = self.workflow.clock.now()
        token = await self._session_token()
        ks, ident, policy = self._ks, self._identity, self._policy
        plan = plan_signed_prekeys(publishing.prekey_records(ks, one_time=False), moment, policy)
        # a signed prekey whose replay-tag set is full takes no more inits: rotate now
        full = (
            plan.publish is not None
            and store.replay_tag_count(ks, plan.publish) >= self._max_replay_tags
        )
        if plan.generate or full:
            [signed] = publishing.new_prekeys(
                ks, ident, 1, moment, self._random, policy, one_time=False
            )
            await self._commit.commit()
            await self._http.put_signed_prekey(self.program_id, token, signed.to_json())
        publishing.delete_prekeys(ks, plan.delete, one_time=False)
        store.forget_replay_tags(ks)  # the tags go with their prekey's secret
        one_time = publishing.prekey_records(ks, one_time=True)
        publishing.delete_prekeys(
            ks, expired_one_time_prekeys(one_time, moment, policy), one_time=True
        )
        count = await self._http.one_time_prekey_count(self.program_id, token)
        draining = time.monotonic() < self._draining_until
        wanted = one_time_prekeys_to_generate(count, policy, draining=draining)
        if wanted:
            batch = publishing.new_prekeys(
                ks, ident, wanted, moment, self._random, policy, one_time=True
            )
            await self._commit.commit()
            await self._http.post_one_time_prekeys(
                self.program_id, token, [p.to_json() for p in batch]
            )
        if store.get_json(ks, store.PUBLISHED_PROFILE) is None:
            await self.publish_profile(store.get_json(ks, store.PROFILE_CONTENT) or {})
        use_profile_check_in(self.workflow, store.get_json(ks, store.PROFILE_CONTENT))
        keeper = self._keeper()
        if keeper.current is None:
            published = store.get_json(ks, store.PUBLISHED_STATUS)
            if published is not None:
                keeper.published(conv.status_body(published))
        body = keeper.due(moment, at_capacity=self.workflow.at_capacity(moment))
        if body is not None:
            await self._publish_status(body)
        if ks.dirty:
            await self._commit.commit()

    async def check_generation(self) -> int:
        """Read the store generation kept on the relay and count it as witnessed (the
        keystore is then :attr:`stale` if older). A missing, foreign or mis-signed one
        counts as nothing: the local witness still holds. Returns the value read."""
        token = await self._session_token()
        found = await self._http.get_generation(self.program_id, token)
        if found is None:
            return 0
        try:
            signed = SignedObject.from_json(found)
            verify_signature(
                self._identity.public_key,
                LABEL_GENERATION,
                self._identity.program_id,
                signed.body,
                signed.signature,
            )
        except (QuietlineError, KeyError, TypeError, ValueError):
            log.warning("the relay's copy of the store generation does not verify; ignored")
            return 0
        return self._ks.observe_generation(signed.body)

    async def publish_generation(self) -> None:
        """Keep the generation of the last save on the relay (sealed, signed), when it
        advanced since the last time: at start, as conversations open and close, and at
        most once a minute otherwise (not on every message)."""
        sealed = self._ks.sealed_generation()
        generation = self._ks.generation
        if sealed is None or generation <= self._published_generation:
            return
        signature = self._identity.sign(LABEL_GENERATION, sealed)
        body = {"body": b64u_encode(sealed), "signature": b64u_encode(signature)}
        await self._http.put_generation(self.program_id, await self._session_token(), body)
        self._published_generation = generation

    def _publish_generation_soon(self) -> None:
        if self._publisher is None or self._publisher.done():
            self._publisher = asyncio.create_task(self._publish_generation_quietly())

    async def _publish_generation_quietly(self) -> None:
        with contextlib.suppress(SDKError, OSError):  # again at the next trigger
            await self.publish_generation()

    async def prekey_count(self) -> int:
        """How many one-time prekeys the relay still holds for this program."""
        return await self._http.one_time_prekey_count(self.program_id, await self._session_token())

    async def set_origins(self, origins: list[str]) -> None:
        """Register the web origins (scheme://host[:port]) whose pages embed the widget.

        The relay admits browser requests (CORS) only from these origins. The list is
        kept in the keystore (``store.PUBLISHED_ORIGINS``): the relay replaces the whole
        list each time, so an admin adding one starts from it.
        """
        await self._http.put_origins(self.program_id, await self._session_token(), origins)
        store.put_json(self._ks, store.PUBLISHED_ORIGINS, sorted(set(origins)))
        await self._commit.commit()

    async def pending_on_relay(self) -> list[str]:
        """Ids of the messages the relay holds for this node, not yet acked."""
        messages = await self._http.program_messages(self.program_id, await self._session_token())
        return [str(m.get("id")) for m in messages]

    async def publish_profile(self, content: dict[str, Any]) -> None:
        """Sign and publish the profile (``content`` as in ``--profile FILE``)."""
        profile = publishing.profile_from_content(content, int(self._clock()))
        signed = sign_profile(self._identity, profile)
        token = await self._session_token()
        await self._http.put_profile(self.program_id, token, signed.to_json())
        store.put_json(self._ks, store.PROFILE_CONTENT, content)
        store.put_json(self._ks, store.PUBLISHED_PROFILE, signed.to_json())
        use_profile_check_in(self.workflow, content)
        await self._commit.commit()

    async def _publish_status(self, body: wf.StatusBody) -> None:
        signed = sign_status(self._identity, body.to_status())
        token = await self._session_token()
        await self._http.put_status(self.program_id, token, signed.to_json())
        self._keeper().published(body)
        store.put_json(self._ks, store.PUBLISHED_STATUS, signed.to_json())
        await self._commit.commit()

    async def check_published(self) -> None:
        """Raise :class:`VerificationFailure` unless the relay serves what we signed."""
        record = await self._http.get_program(self.program_id)
        try:
            key = b64u_decode(str(record.get("identity_key", "")))
        except QuietlineError:
            key = b""
        if (
            not constant_time_equal(key, self._identity.public_key)
            or record.get("program_id") != self.program_id
        ):
            raise VerificationFailure("published_mismatch", "relay serves another identity key")
        for name, served in (
            (store.PUBLISHED_PROFILE, record.get("profile")),
            (store.PUBLISHED_STATUS, record.get("status")),
        ):
            ours = store.get_json(self._ks, name)
            if ours is None or served is None:
                continue
            try:
                theirs = SignedObject.from_json(served)
            except QuietlineError:
                raise VerificationFailure(
                    "published_mismatch", "relay serves a malformed record"
                ) from None
            mine = SignedObject.from_json(ours)
            if not (
                constant_time_equal(theirs.body, mine.body)
                and constant_time_equal(theirs.signature, mine.signature)
            ):
                raise VerificationFailure(
                    "published_mismatch", "relay serves a profile or status we did not sign"
                )
