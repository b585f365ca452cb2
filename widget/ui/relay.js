// The relay, as the widget sees it (docs/api.md): a few JSON routes and one WebSocket.
//
// The relay is trusted for availability only. Nothing it returns is shown before the
// protocol module has verified it against the pinned identity key. Requests carry no
// cookie, no referrer and no cached copy; the capability token travels only in the
// Authorization header or the WebSocket's first frame, never in a URL.

import { proofHeader } from "./proof.js";

export const REQUEST_TIMEOUT_MS = 15000;

/** The relay could not be reached, or answered something other than the contract. */
export class RelayUnavailable extends Error {
  constructor(message, code = "unavailable") {
    super(message);
    this.name = "RelayUnavailable";
    this.code = code;
  }
}

export class RelayClient {
  /** @param {string} origin the relay origin from the snippet (scheme, host, port) */
  constructor(origin) {
    this.origin = origin.replace(/\/+$/, "");
    this.token = null;
    /** Called when the relay asks for a proof of work (the page says so meanwhile). */
    this.onProof = null;
  }

  /**
   * An anonymous request for a program: when the relay answers `proof_required` (the
   * program is under pressure), solve its puzzle and send the request again, once.
   */
  async proven(programId, method, path, body) {
    try {
      return await this.request(method, path, body);
    } catch (error) {
      if (!(error instanceof RelayUnavailable) || error.code !== "proof_required") throw error;
    }
    this.onProof?.();
    const puzzle = await this.request(
      "POST", `/v1/programs/${encodeURIComponent(programId)}/puzzle`, {},
    );
    let proof;
    try {
      proof = await proofHeader(puzzle);
    } catch {
      throw new RelayUnavailable("The chat service answered something unexpected.", "malformed");
    }
    return this.request(method, path, body, { extraHeaders: { "Quietline-Proof": proof } });
  }

  async request(method, path, body, { keepalive = false, extraHeaders = {} } = {}) {
    const headers = { Accept: "application/json", ...extraHeaders };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    let response;
    try {
      response = await fetch(this.origin + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
        referrerPolicy: "no-referrer",
        mode: "cors",
        redirect: "error",
        keepalive,
        signal: abort.signal,
      });
    } catch {
      throw new RelayUnavailable("The chat service could not be reached.");
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const code = data?.error?.code ?? `http_${response.status}`;
      throw new RelayUnavailable("The chat service refused the request.", code);
    }
    if (data === null || typeof data !== "object") {
      throw new RelayUnavailable("The chat service answered something unexpected.", "malformed");
    }
    return data;
  }

  /** Public program record: identity key, signed profile and status (no prekey used). */
  program(programId) {
    return this.request("GET", `/v1/programs/${encodeURIComponent(programId)}`);
  }

  /** A bundle for a new conversation (takes one one-time prekey). */
  bundle(programId) {
    return this.proven(
      programId, "POST", `/v1/programs/${encodeURIComponent(programId)}/bundle`, {},
    );
  }

  /** Open the conversation with its init envelope; remembers the capability token. */
  async createConversation(programId, envelopeB64) {
    const data = await this.proven(programId, "POST", "/v1/conversations", {
      program_id: programId, envelope: envelopeB64,
    });
    if (typeof data.conversation_id !== "string" || typeof data.token !== "string") {
      throw new RelayUnavailable("The chat service answered something unexpected.", "malformed");
    }
    this.token = data.token;
    return data.conversation_id;
  }

  send(conversationId, envelopesB64, options) {
    return this.request(
      "POST", `/v1/conversations/${encodeURIComponent(conversationId)}/messages`,
      { envelopes: envelopesB64 }, options,
    );
  }

  close(conversationId, options) {
    return this.request(
      "POST", `/v1/conversations/${encodeURIComponent(conversationId)}/close`, {}, options,
    );
  }

  /**
   * Open the WebSocket and authenticate with the first frame.
   * handlers: onReady() once the relay accepted the token, onMessage({id, conversation_id,
   * envelope}), onClosed(conversation_id), onDown() when the socket fails or closes
   * unexpectedly.
   */
  connect(handlers) {
    const url = this.origin.replace(/^http/, "ws") + "/v1/ws";
    const socket = new WebSocket(url);
    let closing = false;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ type: "auth", token: this.token }));
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "ready") handlers.onReady?.();
      else if (frame.type === "message") handlers.onMessage(frame);
      else if (frame.type === "closed") handlers.onClosed(frame.conversation_id);
    });
    socket.addEventListener("close", () => {
      if (!closing) handlers.onDown?.();
    });
    return {
      ack(ids) {
        if (socket.readyState === WebSocket.OPEN) {
          socket.send(JSON.stringify({ type: "ack", ids }));
        }
      },
      close() {
        closing = true;
        try {
          socket.close(1000);
        } catch {
          // already closed
        }
      },
    };
  }

  /** Forget the capability token. */
  forget() {
    this.token = null;
  }
}
