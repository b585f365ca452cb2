# ruff: noqa: E501  (the JavaScript run in the page is kept readable, not wrapped)
"""widget/ui/conversation.js in Chromium: ending a chat drops every key before the relay
is asked anything, so no key waits in memory on the network.

The relay client here is a recording stand-in whose answers the test releases by hand
(the full flow against a real relay is in test_widget_chat.py); the session is a real
one, made by the protocol modules against a real prekey.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

SETUP = """async () => {
  const Q = await import('/widget/protocol/index.js');
  const { Conversation } = await import('/widget/ui/conversation.js');
  const programId = crypto.getRandomValues(new Uint8Array(16));
  const prekeySecret = crypto.getRandomValues(new Uint8Array(32));
  const prekey = await Q.X25519PrivateKey.fromSecret(prekeySecret);
  const verified = { programId, oneTimePrekey: null, prekey: { prekeyId: 1, publicKey: prekey.publicKey } };
  const { session, envelope } = await Q.startConversation(verified, { t: "system", event: "start", ts: 0 });
  const { session: program } = await Q.acceptConversation(envelope, programId, prekeySecret);
  const calls = [];
  const pending = [];
  const answer = (name) => new Promise((resolve, reject) => { pending.push({ name, resolve, reject }); });
  const relay = {
    send: (cid, envelopes) => { calls.push(["send", envelopes.length]); return answer("send"); },
    close: (cid) => { calls.push(["close"]); return answer("close"); },
    forget: () => { calls.push(["forget"]); },
  };
  const conversation = new Conversation(relay, session, Q.b64uEncode(session.conversationId));
  window.T = { Q, conversation, session, program, calls, pending };
}"""


def release(page: Page, name: str, ok: bool = True) -> None:
    page.evaluate(
        """async ([name, ok]) => {
          const i = T.pending.findIndex((p) => p.name === name);
          const [p] = T.pending.splice(i, 1);
          if (ok) p.resolve(); else p.reject(new Error("relay down"));
        }""",
        [name, ok],
    )


def wait_calls(page: Page, count: int) -> list[list[object]]:
    page.wait_for_function(f"T.calls.length >= {count}", timeout=10_000)
    return page.evaluate("T.calls")


@pytest.mark.parametrize("relay_up", [True, False])
def test_ending_drops_the_keys_before_asking_the_relay(protocol_page: Page, relay_up: bool) -> None:
    page = protocol_page
    page.evaluate(SETUP)
    page.evaluate("() => { window.ending = T.conversation.closeAndDrop('participant'); }")
    assert wait_calls(page, 1) == [["send", 1]]
    # The close notice is on its way and the keys are already gone, token kept for it.
    assert page.evaluate("[T.session.closed, T.conversation.session, T.conversation.closed]") == [
        True,
        None,
        True,
    ]
    release(page, "send", relay_up)
    assert wait_calls(page, 2) == [["send", 1], ["close"]]
    release(page, "close", relay_up)
    page.evaluate("window.ending")
    assert page.evaluate("T.calls") == [["send", 1], ["close"], ["forget"]]


def test_the_close_notice_is_a_genuine_close_payload(protocol_page: Page) -> None:
    page = protocol_page
    page.evaluate(SETUP)
    page.evaluate(
        """() => {
          const send = T.conversation.relay.send;
          T.conversation.relay.send = (cid, envelopes) => { T.sent = envelopes[0]; return send(cid, envelopes); };
          window.ending = T.conversation.closeAndDrop('participant');
        }"""
    )
    wait_calls(page, 1)
    got = page.evaluate("async () => (await T.program.decrypt(T.Q.b64uDecode(T.sent))).payload")
    assert got["t"] == "close" and got["reason"] == "participant"


def test_a_chat_dropped_while_sealing_the_notice_sends_nothing(protocol_page: Page) -> None:
    """A quick exit (drop) during closeAndDrop's first await wins: no request follows."""
    page = protocol_page
    page.evaluate(SETUP)
    page.evaluate(
        """async () => {
          const ending = T.conversation.closeAndDrop('participant');
          T.conversation.drop();
          await ending;
        }"""
    )
    assert page.evaluate("T.calls") == [["forget"]]
