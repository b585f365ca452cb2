"""The node's link to the relay: its session token and the sending of envelopes.

Security properties:

- The node proves itself to the relay by signing a fresh challenge bound to the relay's
  origin (label ``relay-auth``), so a signature made for one relay is useless at another.
- A message's ratchet state is saved before its envelope leaves, so a crash never
  reuses a message key.
"""

from __future__ import annotations

import contextlib
import logging
import time

from client_sdk import events as ev
from client_sdk import publishing, store
from client_sdk.errors import (
    RelayUnavailable,
    SDKError,
    UsageError,
)
from client_sdk.node.state import NodeState
from client_sdk.outbox import Delivery
from e2ee import payload as pl
from e2ee.encoding import b64u_encode

log = logging.getLogger("client_sdk.program")


class NodeTransport(NodeState):
    """The node's relay session and the sending of envelopes."""

    @property
    def connected(self) -> bool:
        """Whether the node's WebSocket to the relay is up now (it reconnects by itself)."""
        return self._socket is not None and self._socket.connected

    async def _session_token(self, refresh: bool = False) -> str:
        if refresh or self._token is None or time.monotonic() >= self._token_expires:
            token, expires_in = await publishing.authenticate(
                self._http, self._identity, self._origin
            )
            self._token = token
            self._token_expires = time.monotonic() + max(1, expires_in - 30)
        return self._token

    async def _ws_token(self) -> str:
        # a reconnect may follow a relay restart that forgot our session: sign in again
        reconnecting = self._socket is not None and self._socket.connections > 0
        return await self._session_token(refresh=reconnecting)

    async def _close_stale(self, closed: list[str]) -> None:
        """Tell the relay to close the conversations of a stale keystore, and staff."""
        for cid in closed:
            self._closed_ids.add(cid)
            with contextlib.suppress(SDKError):
                await self._http.close_conversation(cid, await self._session_token())
            self._events.put(ev.ConversationClosedEvent(cid, "self", "stale_keystore"))

    async def _send_payload(self, conversation_id: str, payload: pl.Payload) -> Delivery:
        if self._closed:
            raise UsageError("the client is closed")
        c = self._get(conversation_id)
        c.session, envelope = c.session.encrypt(payload, random=self._random)
        self._ks.put(store.session_name(c.cid), c.session.to_bytes())
        self._append_transcript(c.cid, "program", payload)
        await self._commit.commit()  # state on disk before the envelope leaves
        return await self._outbox.send(conversation_id, [b64u_encode(envelope)])

    async def _deliver(self, conversation_id: str, envelopes: list[str]) -> None:
        if self._socket is not None and self._socket.connected:
            with contextlib.suppress(RelayUnavailable):
                await self._socket.send(conversation_id, envelopes)
                return
        token = await self._session_token()
        await self._http.post_messages(conversation_id, token, envelopes)
