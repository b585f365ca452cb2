// The console's one WebSocket: actions out (each answered by a "result" with its req),
// updates in. Reconnects by itself after a network break; a 4401 close means the
// session ended, and the page goes back to sign-in.

const SIGNED_OUT = 4401;

export class Link {
  constructor({ csrf, onUpdate, onState, onSignedOut }) {
    this.csrf = csrf;
    this.onUpdate = onUpdate;
    this.onState = onState;
    this.onSignedOut = onSignedOut;
    this.pending = new Map();
    this.nextReq = 1;
    this.delay = 1000;
    this.socket = null;
    this.stopped = false;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(JSON.stringify({ op: "hello", csrf: this.csrf }));
      this.delay = 1000;
      this.onState("connected");
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "result" && this.pending.has(frame.req)) {
        const resolve = this.pending.get(frame.req);
        this.pending.delete(frame.req);
        resolve(frame);
        return;
      }
      if (frame.type === "signed_out") {
        this.stop();
        this.onSignedOut(frame.reason || "expired");
        return;
      }
      this.onUpdate(frame);
    });
    socket.addEventListener("close", (event) => {
      for (const resolve of this.pending.values()) {
        resolve({ ok: false, error: "The connection was lost. Try again.", reason: "offline" });
      }
      this.pending.clear();
      if (this.stopped) return;
      if (event.code === SIGNED_OUT) {
        this.stopped = true;
        this.onSignedOut("expired");
        return;
      }
      this.onState("reconnecting");
      setTimeout(() => this.connect(), this.delay);
      this.delay = Math.min(this.delay * 2, 30000);
    });
  }

  request(op, args = {}) {
    if (!this.socket || this.socket.readyState !== WebSocket.OPEN) {
      return Promise.resolve({ ok: false, error: "Not connected. Wait a moment and try again.", reason: "offline" });
    }
    const req = this.nextReq++;
    const answer = new Promise((resolve) => this.pending.set(req, resolve));
    this.socket.send(JSON.stringify({ op, req, ...args }));
    return answer;
  }

  stop() {
    this.stopped = true;
    if (this.socket) this.socket.close();
  }
}
