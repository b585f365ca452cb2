// The one place where the widget's UI meets the protocol (widget/protocol/, by H4).
//
// The UI never touches keys or envelopes: it gets verified profile/status objects, sends
// payload objects and receives payload objects with a count of possibly missing
// messages. Verification and decryption failures surface as the protocol's own errors
// (VerificationError, DecryptionError, MalformedInput ...), which the app treats as
// "stop the chat". Relay trouble surfaces as RelayUnavailable.

import * as P from "../protocol/index.js";
import { RelayUnavailable } from "./relay.js";

export const DURESS_TIMEOUT_MS = 2000;
export const RECONNECT_DELAYS_MS = Object.freeze([500, 1500, 4000]);

/**
 * Whether the snippet is consistent in itself: the identity key is 32 bytes and the
 * program id is the one derived from it. A mismatch is a mistake in the page (a
 * mistyped or mixed-up snippet), found before any request; nothing a relay does can
 * cause it, so it is no sign of an attack and is told to the page's admin, not to the
 * participant.
 * @returns {Promise<string | null>} null when consistent, else what is wrong (for admins)
 */
export async function snippetProblem(config) {
  let key;
  try {
    key = P.b64uDecode(config.identityKey);
  } catch {
    return "data-identity-key is not base64url";
  }
  if (key.length !== 32) return "data-identity-key is not 32 bytes";
  const derived = P.b64uEncode(await P.programIdFor(key));
  if (derived !== config.programId) {
    return "data-program-id is not the id of data-identity-key (one of them is mistyped)";
  }
  return null;
}

/**
 * Fetch the public program record and verify it against the pinned key.
 * @returns {Promise<{profile: object, status: object | null}>} status null if expired/absent
 */
export async function checkProgram(relay, config) {
  const record = await relay.program(config.programId);
  const verified = await P.verifyProgram(record, {
    identityKey: config.identityKey, programId: config.programId,
  });
  return { profile: verified.profile, status: verified.status };
}

/** A live conversation: a ratchet session, the capability token, a socket. */
export class Conversation {
  constructor(relay, session, conversationId) {
    this.relay = relay;
    this.session = session;
    this.conversationId = conversationId;
    this.socket = null;
    this.queue = Promise.resolve();
    this.closed = false;
  }

  /** Fetch a bundle, verify it, run the handshake, create the conversation on the relay. */
  static async open(relay, config) {
    const bundle = await relay.bundle(config.programId);
    const verified = await P.verifyBundle(bundle, {
      identityKey: config.identityKey, programId: config.programId,
    });
    const { session, envelope, conversationId } = await P.startConversation(verified, {
      t: "system", event: "start", ts: Date.now(),
    });
    const ours = P.b64uEncode(conversationId);
    try {
      const theirs = await relay.createConversation(config.programId, P.b64uEncode(envelope));
      // The id is ours (inside every envelope); a relay naming another one is lying.
      if (theirs !== ours) throw new P.VerificationError("the relay named another conversation");
    } catch (error) {
      session.drop();
      throw error;
    }
    return new Conversation(relay, session, ours);
  }

  async send(payload, options) {
    if (this.closed) throw new RelayUnavailable("The chat has ended.", "closed");
    const envelope = await this.session.encrypt(payload);
    await this.relay.send(this.conversationId, [P.b64uEncode(envelope)], options);
  }

  /** Send the duress signal, waiting at most DURESS_TIMEOUT_MS for the relay. */
  async sendDuress() {
    const sent = this.send({ t: "duress", ts: Date.now() }, { keepalive: true });
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(resolve, DURESS_TIMEOUT_MS);
    });
    try {
      await Promise.race([sent, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Receive over the WebSocket. Envelopes are decrypted one at a time, in arrival order;
   * each is acknowledged (so the relay deletes it) only after it decrypted. A message id
   * seen before (the relay pushes pending messages again after a reconnect, if an ack
   * was lost) is acknowledged again and not decrypted twice. A socket that drops is
   * reopened up to RECONNECT_DELAYS_MS.length times before the chat gives up.
   */
  listen({ onPayload, onClosed, onError }) {
    const seen = new Set();
    let attempt = 0;
    const open = () => {
      this.socket = this.relay.connect({
        onReady: () => {
          attempt = 0;
        },
        onMessage: (frame) => {
          this.queue = this.queue.then(async () => {
            if (this.closed || frame.conversation_id !== this.conversationId) return;
            if (seen.has(frame.id)) {
              this.socket?.ack([frame.id]);
              return;
            }
            let result;
            try {
              result = await this.session.decrypt(P.b64uDecode(frame.envelope));
            } catch (error) {
              if (!this.closed) onError(error);
              return;
            }
            if (this.closed) return;
            seen.add(frame.id);
            this.socket?.ack([frame.id]);
            onPayload(result.payload, result.missing ?? 0);
          });
        },
        onClosed: (conversationId) => {
          // After every message already received: the closing notice the program sent
          // just before is decrypted and shown first.
          this.queue = this.queue.then(() => {
            if (conversationId === this.conversationId && !this.closed) onClosed();
          });
        },
        onDown: () => {
          if (this.closed) return;
          if (attempt >= RECONNECT_DELAYS_MS.length) {
            onError(new RelayUnavailable("The connection to the chat was lost."));
            return;
          }
          const delay = RECONNECT_DELAYS_MS[attempt];
          attempt += 1;
          setTimeout(() => {
            if (!this.closed) open();
          }, delay);
        },
      });
    };
    open();
  }

  /** Tell the program (encrypted) and the relay that the chat is over, then drop keys. */
  async closeAndDrop(reason) {
    if (this.closed) return;
    // The close notice is sealed first; every key goes before the relay is even asked,
    // so nothing waits in memory on the network. The token stays for these two requests.
    let envelope = null;
    try {
      envelope = await this.session.encrypt({ t: "close", reason, ts: Date.now() });
    } catch {
      // The relay close below still ends it.
    }
    if (this.closed) return; // dropped meanwhile (quick exit, the program closed)
    this.dropKeys();
    try {
      if (envelope !== null) await this.relay.send(this.conversationId, [P.b64uEncode(envelope)]);
    } catch {
      // The relay close below still ends it.
    }
    try {
      await this.relay.close(this.conversationId);
    } catch {
      // Nothing more to do: keys are already dropped.
    }
    this.relay.forget();
  }

  /**
   * Leaving in a hurry: ask the relay to delete the conversation (a keepalive request,
   * started synchronously and never awaited, so it outlives the page), then drop keys.
   */
  abandon() {
    if (this.closed) return;
    this.relay.close(this.conversationId, { keepalive: true }).catch(() => {});
    this.drop();
  }

  /** Drop every key: the session's, the capability token, the socket. */
  drop() {
    try {
      this.dropKeys();
    } finally {
      this.relay.forget();
    }
  }

  /** Drop the session's keys and the socket; the capability token stays (closeAndDrop). */
  dropKeys() {
    this.closed = true;
    this.socket?.close();
    this.socket = null;
    try {
      this.session?.drop();
    } finally {
      this.session = null;
    }
  }
}
