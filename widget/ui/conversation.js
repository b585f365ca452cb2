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
// Waits between reconnection attempts through a dead spot: growing, then every 10 s,
// until the snippet's reconnect window (at least two minutes) has passed.
export const RECONNECT_DELAYS_MS = Object.freeze([500, 1000, 2000, 4000, 8000, 10000]);
export const DEFAULT_RECONNECT_MS = 120_000;

function reconnectDelay(attempt) {
  return RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)];
}

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
    // Messages to send, in the order written. Each is sealed once (the ratchet moves on
    // exactly once per message) and its envelope kept until the relay took it: sending
    // the same envelope again is safe (the relay answers a repeat with the first send's
    // ids, docs/api.md), so a dead spot never reorders, duplicates or loses one.
    this.outbox = [];
    this.flushing = false;
    this.online = false;
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

  /**
   * Queue `payload` to be sent in order, through any dead spot. `onState` hears
   * "sending", "waiting" (the relay cannot be reached; it will be sent when the
   * connection is back) and "sent". Returns a promise settled once it is sent.
   */
  enqueue(payload, onState = () => {}) {
    let resolve;
    const done = new Promise((r) => {
      resolve = r;
    });
    this.outbox.push({ payload, envelope: null, onState, resolve });
    onState("sending");
    this.flush();
    return done;
  }

  /** Send what waits in the outbox, oldest first; stop at the first relay failure. */
  async flush() {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.outbox.length > 0 && !this.closed) {
        const item = this.outbox[0];
        if (item.envelope === null) item.envelope = P.b64uEncode(await this.session.encrypt(item.payload));
        if (this.closed) return;
        try {
          await this.relay.send(this.conversationId, [item.envelope]);
        } catch (error) {
          if (!(error instanceof RelayUnavailable)) throw error;
          for (const waiting of this.outbox) waiting.onState("waiting");
          this.onTrouble?.();
          return;
        }
        this.outbox.shift();
        item.onState("sent");
        item.resolve(true);
      }
    } catch (error) {
      if (!this.closed) this.onError?.(error);
    } finally {
      this.flushing = false;
    }
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
   * was lost) is acknowledged again and not decrypted twice.
   *
   * A dead spot: when the socket drops, `onConnection("reconnecting")`, and the socket
   * is reopened with growing waits (RECONNECT_DELAYS_MS) for `reconnectMs`; once the
   * relay accepts it again, `onConnection("online")` and the outbox is sent, in order.
   * When the window has passed without a connection, `onConnection("lost")`: nothing is
   * dropped (keys, messages, draft and outbox stay); `retry()` starts a new window.
   */
  listen({ onPayload, onClosed, onError, onConnection = () => {}, reconnectMs = DEFAULT_RECONNECT_MS }) {
    const seen = new Set();
    let attempt = 0;
    let downSince = null;
    let timer = null;
    this.onError = onError;
    const wentDown = () => {
      if (this.closed) return;
      this.online = false;
      if (timer !== null) return; // a reconnection is already planned
      const now = Date.now();
      if (downSince === null) {
        downSince = now;
        attempt = 0;
        onConnection("reconnecting");
      }
      if (now - downSince >= reconnectMs) {
        this.socket?.close();
        this.socket = null;
        onConnection("lost");
        return;
      }
      timer = setTimeout(() => {
        timer = null;
        if (!this.closed) open();
      }, reconnectDelay(attempt));
      attempt += 1;
    };
    this.onTrouble = wentDown;
    this.retry = () => {
      if (this.closed || timer !== null) return;
      downSince = null;
      this.socket?.close();
      this.socket = null;
      wentDown();
    };
    const open = () => {
      this.socket?.close();
      this.socket = this.relay.connect({
        onReady: () => {
          attempt = 0;
          downSince = null;
          this.online = true;
          onConnection("online");
          this.flush();
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
        onDown: wentDown,
      });
    };
    this.stopTimers = () => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
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
    this.stopTimers?.();
    for (const item of this.outbox) item.envelope = null;
    this.outbox = [];
    this.socket?.close();
    this.socket = null;
    try {
      this.session?.drop();
    } finally {
      this.session = null;
    }
  }
}
