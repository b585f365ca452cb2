// The chat screen: a log announced to screen readers (role="log", aria-live polite),
// a labelled message box, Send, End chat and the duress control.
//
// Every text is set with textContent and dir="auto", so any script shows as written
// (Arabic and Hebrew right to left, Chinese, Hindi, emoji) and nothing becomes markup.
// `wipe()` removes every message node; the app then drops its references.

import { el, uid } from "./dom.js";
import { TEXT, plural } from "./text.js";

const TYPING_SHOWN_MS = 8000; // a typing line that is not renewed goes away

export class ChatView {
  /**
   * @param {{name: string}} profile
   * @param {{onSend(text: string, onState: (state: string) => void): void, onEnd(): void,
   *   onDuress(): void, onRetry(): void}} actions
   */
  constructor(profile, actions) {
    this.actions = actions;
    this.programName = String(profile.name);
    const logId = uid("log");
    const boxId = uid("box");
    const duressHintId = uid("duress");
    this.log = el("div", {
      id: logId, class: "quietline-log", role: "log", "aria-live": "polite",
      "aria-label": TEXT.conversation, tabindex: "0",
    });
    this.status = el("p", { class: "quietline-chat-status", role: "status", text: TEXT.waiting });
    // The connection through a dead spot: a live line, and "Try again" once the
    // widget has stopped retrying by itself.
    this.connectionText = el("p", { class: "quietline-connection-text", role: "status" });
    this.tryAgain = el("button", { type: "button", class: "quietline-button", text: TEXT.tryAgain, hidden: true });
    this.tryAgain.addEventListener("click", () => actions.onRetry?.());
    this.connection = el("div", { class: "quietline-connection", "data-connection": "online" }, [
      this.connectionText, this.tryAgain,
    ]);
    this.pending = new Set(); // my messages not yet taken by the relay
    this.mine = []; // my text messages, in the order sent (for "delivered")
    this.workerName = null; // the name the support worker chose, once they joined
    this.typingTimer = null;
    this.box = el("textarea", {
      id: boxId, class: "quietline-box", rows: "3", dir: "auto", autocomplete: "off",
      spellcheck: "false", maxlength: "4000",
    });
    this.sendButton = el("button", { type: "submit", class: "quietline-button quietline-primary", text: TEXT.send });
    this.form = el("form", { class: "quietline-compose", "aria-label": TEXT.yourMessage }, [
      el("label", { for: boxId, text: TEXT.yourMessage }),
      el("div", { class: "quietline-compose-row" }, [this.box, this.sendButton]),
    ]);
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.box.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.submit();
      }
    });
    const duress = el("button", {
      type: "button", class: "quietline-button quietline-duress", text: TEXT.duress,
      "aria-describedby": duressHintId,
    });
    duress.addEventListener("click", () => actions.onDuress());
    this.endButton = el("button", {
      type: "button", class: "quietline-link-button quietline-end", text: TEXT.endChat,
      "aria-expanded": "false",
    });
    this.confirm = this.#confirmEnd(actions);
    this.endButton.addEventListener("click", () => this.#askToEnd(true));
    this.node = el("div", { class: "quietline-screen quietline-chat", "data-screen": "chat" }, [
      el("h2", { class: "quietline-heading", tabindex: "-1", text: `${TEXT.chatHeading}: ${profile.name}`, dir: "auto" }),
      this.log,
      this.status,
      this.connection,
      this.form,
      el("div", { class: "quietline-chat-actions" }, [
        el("div", { class: "quietline-duress-block" }, [
          duress,
          el("p", { id: duressHintId, class: "quietline-small", text: TEXT.duressHint }),
        ]),
        this.endButton,
        this.confirm,
      ]),
    ]);
    this.sending = false;
  }

  /** "End chat" asks first: a mis-tap must not end a conversation someone needed. */
  #confirmEnd(actions) {
    const questionId = uid("confirm");
    const yes = el("button", { type: "button", class: "quietline-button quietline-primary", text: TEXT.endConfirmYes });
    const no = el("button", { type: "button", class: "quietline-button", text: TEXT.endConfirmNo });
    yes.addEventListener("click", () => actions.onEnd());
    no.addEventListener("click", () => {
      this.#askToEnd(false);
      this.endButton.focus();
    });
    this.confirmYes = yes;
    return el("div", {
      class: "quietline-confirm", role: "group", "aria-labelledby": questionId, hidden: true,
      "data-kind": "confirm-end",
    }, [el("p", { id: questionId, text: TEXT.endConfirmQuestion }), yes, no]);
  }

  #askToEnd(open) {
    this.confirm.hidden = !open;
    this.endButton.setAttribute("aria-expanded", String(open));
    if (open) this.confirmYes.focus();
  }

  /**
   * Send what is in the box: it shows in the log at once and goes into the outbox, which
   * sends it in order as soon as the relay can be reached (through a dead spot too).
   */
  submit() {
    const text = this.box.value.trim();
    if (!text) return;
    this.box.value = "";
    const node = this.addMessage("me", text);
    this.pending.add(node);
    this.mine.push(node);
    this.actions.onSend(text, (state) => this.#messageState(node, state));
    this.box.focus();
  }

  #messageState(node, state) {
    node.dataset.state = state;
    const label = node.querySelector(".quietline-msg-state");
    if (state === "sent") {
      this.pending.delete(node);
      label.textContent = node.dataset.delivered ? TEXT.delivered : "";
    } else if (state === "waiting") {
      label.textContent = this.connection.dataset.connection === "lost" ? TEXT.notSentYet : TEXT.waitingToSend;
    }
  }

  /** "online", "reconnecting" or "lost" (keys, messages and draft stay in every case). */
  setConnection(state) {
    this.connection.dataset.connection = state;
    this.connectionText.textContent = state === "reconnecting"
      ? TEXT.reconnecting
      : state === "lost" ? TEXT.connectionLost : "";
    this.tryAgain.hidden = state !== "lost";
    for (const node of this.pending) {
      if (node.dataset.state === "waiting") this.#messageState(node, "waiting");
    }
  }

  #append(item) {
    this.log.append(item);
    item.scrollIntoView?.({ block: "nearest" });
  }

  /** A message: `who` is "program" or "me". Returns its node. */
  addMessage(who, text) {
    const node = el("div", { class: `quietline-msg quietline-from-${who}`, "data-kind": who }, [
      el("span", {
        class: "quietline-sender", dir: "auto",
        text: who === "program" ? (this.workerName ?? TEXT.supportWorker) : TEXT.you,
      }),
      el("span", { class: "quietline-text", dir: "auto", text }),
      who === "me" ? el("span", { class: "quietline-msg-state quietline-small" }) : null,
    ]);
    this.#append(node);
    if (who === "program") this.#clearTyping(true);
    return node;
  }

  /** The node says where the participant waits (1 = next). */
  setQueue(position) {
    if (this.workerName !== null) return;
    this.status.textContent = position <= 1
      ? TEXT.queueNext
      : plural(TEXT.lang, position - 1, TEXT.queueAhead);
  }

  /** A support worker took the conversation, under the name they chose. */
  joined(name) {
    this.workerName = name;
    this.status.textContent = "";
    this.#append(el("div", { class: "quietline-event", "data-kind": "event", "data-event": "joined" }, [
      el("span", { class: "quietline-text", dir: "auto", text: TEXT.joined(name) }),
    ]));
  }

  /** The support worker is writing (or stopped). */
  setTyping(active) {
    clearTimeout(this.typingTimer);
    if (!active) {
      this.#clearTyping();
      return;
    }
    this.status.textContent = TEXT.typing(this.workerName ?? TEXT.supportWorker);
    this.status.dataset.typing = "true";
    this.typingTimer = setTimeout(() => this.#clearTyping(), TYPING_SHOWN_MS);
  }

  /**
   * Take the typing line away. `answered`: a support worker wrote, so the waiting or
   * queue line goes too; a notice (the check-in, say) leaves it in place.
   */
  #clearTyping(answered = false) {
    clearTimeout(this.typingTimer);
    if (this.status.dataset.typing || answered) {
      delete this.status.dataset.typing;
      this.status.textContent = "";
    }
  }

  /** The program has received my first `count` text messages. */
  markDelivered(count) {
    for (const node of this.mine.slice(0, count)) {
      if (node.dataset.delivered) continue;
      node.dataset.delivered = "true";
      if (node.dataset.state === "sent") node.querySelector(".quietline-msg-state").textContent = TEXT.delivered;
    }
  }

  /**
   * A notice from the program, shown apart from messages (its own colour and border),
   * signed with the program's name: no internal label such as the notice's kind.
   */
  addNotice(kind, text) {
    this.#clearTyping();
    this.#append(el("div", { class: "quietline-notice", "data-kind": "notice", "data-notice": kind }, [
      el("span", { class: "quietline-sender", dir: "auto", text: this.programName }),
      el("span", { class: "quietline-text", dir: "auto", text }),
    ]));
  }

  /** A flag from the widget itself (a possibly missing message, a failed send). */
  addFlag(text, kind = "missing") {
    this.#append(el("div", { class: "quietline-flag", "data-kind": "flag", "data-flag": kind }, [
      el("span", { class: "quietline-text", text }),
    ]));
  }

  /**
   * The program asks for a code word: a small form in the log. The word is typed into a
   * password field (nobody looking over a shoulder reads it) and is sent only inside
   * the encrypted session; the form removes itself once sent.
   */
  addCodeWordPrompt(alias, onSubmit) {
    const inputId = uid("codeword");
    const input = el("input", {
      id: inputId, type: "password", class: "quietline-input", autocomplete: "off",
      spellcheck: "false", maxlength: "256",
    });
    const form = el("form", { class: "quietline-codeword", "data-kind": "codeword" }, [
      el("label", { for: inputId, text: TEXT.codeWordLabel }),
      input,
      el("button", { type: "submit", class: "quietline-button", text: TEXT.codeWordSend }),
    ]);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const word = input.value;
      if (!word) return;
      input.value = "";
      if (await onSubmit(alias, word)) {
        form.replaceWith(el("div", { class: "quietline-flag", "data-kind": "flag", "data-flag": "codeword-sent" }, [
          el("span", { class: "quietline-text", text: TEXT.codeWordSent }),
        ]));
        this.box.focus();
      }
    });
    this.#append(form);
    input.focus();
  }

  /** Remove every message from the page. */
  wipe() {
    this.box.value = "";
    this.pending.clear();
    this.mine = [];
    clearTimeout(this.typingTimer);
    while (this.log.firstChild) this.log.removeChild(this.log.firstChild);
    this.node.remove();
  }
}
