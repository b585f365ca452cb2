// The participant's path through the widget:
//
//   loading -> start ------------> notice -> questions -> connecting -> chat -> ended
//          \-> unavailable (outside hours, closed, outage, unknown, unreachable, setup)
//   "busy" is not unavailable: the participant can start and wait in the queue.
//   any step after loading -> warning (verification failed: stop, alternatives)
//   any step -> quick exit (button or Shift x3); chat -> duress -> quick exit
//
// Security properties:
// - Nothing from the relay is shown before the protocol module verified it against the
//   identity key pinned in the page. A failed verification stops everything and shows
//   only the page's own fallback text and alternatives that were verified earlier.
// - Keys, messages and the capability token live in this object only (memory); wipe()
//   drops them and removes every message node. Nothing is written to any storage.
// - The message box does not exist before the rights notice is acknowledged.

import { Conversation, checkProgram, snippetProblem } from "./conversation.js";
import { ChatView } from "./chat-view.js";
import { clear, el } from "./dom.js";
import { isOpenAt, parseHours } from "./hours.js";
import { reportUnreachable, watchPolicy } from "./diagnose.js";
import { coverPage, quickExit, safeExitUrl, watchTripleShift } from "./quick-exit.js";
import { RelayClient, RelayUnavailable } from "./relay.js";
import {
  connectingScreen, endedScreen, loadingScreen, noticeScreen, questionsScreen, startScreen,
  unavailableScreen, warningScreen,
} from "./screens.js";
import { TEXT, setLanguage, shippedLanguage } from "./text.js";

export class WidgetApp {
  /**
   * @param {HTMLElement} root the snippet's container
   * @param {{relay: string, programId: string, identityKey: string, exitUrl: string}} config
   */
  constructor(root, config) {
    this.root = root;
    this.config = config;
    this.fallbackNodes = [...root.querySelectorAll("[data-quietline-fallback] > :not(h2)")];
    this.verified = null; // {profile, status, hours}
    this.conversation = null;
    this.chat = null;
    this.stopped = false;
    this.engaged = false;
    this.closingText = null; // the program's closing notice, kept for the ended screen
  }

  mount() {
    // The widget's own words follow the language of the snippet or page around it (its
    // `lang`) when that is one the widget ships; otherwise the program's profile says
    // (once verified, see useProfileLanguage); otherwise English.
    this.pageLanguage = shippedLanguage(this.root.closest("[lang]")?.getAttribute("lang") ?? "");
    setLanguage(this.pageLanguage ?? "en");
    const fallback = this.root.querySelector("[data-quietline-fallback]");
    if (fallback) fallback.hidden = true;
    this.exitButton = el("button", {
      type: "button", class: "quietline-exit", text: TEXT.quickExit, "data-quietline-exit": true,
    });
    this.exitButton.addEventListener("click", () => this.quickExit());
    this.screen = el("div", { class: "quietline-body" });
    this.exitHint = el("p", { class: "quietline-small quietline-exit-hint", text: TEXT.quickExitHint });
    this.app = el("div", { class: "quietline-app" }, [
      el("div", { class: "quietline-exit-bar" }, [this.exitButton]),
      this.screen,
      this.exitHint,
    ]);
    this.root.append(this.app);
    this.app.addEventListener("click", () => {
      this.engaged = true;
    }, true);
    this.app.addEventListener("keydown", () => {
      this.engaged = true;
    }, true);
    this.root.classList.add("quietline-ready");
    document.documentElement.classList.add("quietline-mounted");
    watchTripleShift(() => this.quickExit()); // for the page's lifetime: never removed
    watchPolicy(this.config.relay); // CSP refusals of the relay, for reportUnreachable
    // Leaving the page (closing the tab, navigating away, the browser putting the page
    // aside) ends the conversation for the program at once: the relay is asked to
    // delete it with a keepalive request, which outlives the page (best effort; there
    // is no time left to seal an encrypted close), and the program hears that the
    // participant left. Keys and messages are dropped as on any ending.
    window.addEventListener("pagehide", () => this.leavePage());
    this.load();
  }

  /**
   * Swap the screen. Focus moves to the new heading only once the participant has acted
   * in the widget, so loading the program's page never pulls focus into the chat.
   */
  show(node) {
    clear(this.screen);
    this.screen.append(node);
    if (this.engaged) node.querySelector(".quietline-heading")?.focus();
  }

  async load() {
    this.show(loadingScreen());
    const problem = await snippetProblem(this.config);
    if (problem !== null) {
      // For the page's admin, in the browser console; the participant sees other ways.
      console.error(`Quietline widget: ${problem}. Paste the snippet again, as printed by "quietline widget snippet".`);
      this.show(unavailableScreen("setup", null, this.fallbackNodes, null));
      return;
    }
    this.relay = new RelayClient(this.config.relay);
    let verified;
    try {
      const { profile, status } = await checkProgram(this.relay, this.config);
      verified = { profile, status, hours: null };
      try {
        verified.hours = parseHours(profile.hours);
      } catch {
        verified.hours = null;
      }
    } catch (error) {
      if (error instanceof RelayUnavailable) {
        reportUnreachable(this.config, error); // for the page's admin, in the browser console
        this.show(unavailableScreen("unreachable", null, this.fallbackNodes, () => this.load()));
      } else {
        this.fail();
      }
      return;
    }
    this.verified = verified;
    this.useProfileLanguage(verified.profile);
    const reason = this.unavailableReason();
    if (reason) {
      this.show(unavailableScreen(reason, verified, this.fallbackNodes, () => this.load()));
      return;
    }
    this.show(startScreen(verified, () => this.showNotice()));
  }

  /**
   * When the page named no language the widget ships, speak the one the program's
   * verified profile names (if shipped), before the first screen that says anything.
   */
  useProfileLanguage(profile) {
    if (this.pageLanguage) return;
    const chosen = shippedLanguage(profile.language);
    setLanguage(chosen ?? "en");
    // The program writes in its language too: say so to screen readers and fonts.
    if (chosen) this.app.lang = chosen;
    else this.app.removeAttribute("lang");
    this.exitButton.textContent = TEXT.quickExit;
    this.exitHint.textContent = TEXT.quickExitHint;
  }

  /** Why a chat cannot start now, or null when it can. */
  unavailableReason() {
    const { status, hours } = this.verified;
    if (!status) return "unknown";
    if (status.state === "closed" || status.state === "outage") return status.state;
    if (status.state !== "open" && status.state !== "busy") return "unknown";
    if (hours && !isOpenAt(hours, Date.now())) return "outside_hours";
    return null;
  }

  showNotice() {
    this.show(noticeScreen(this.verified.profile, () => this.showQuestions(), () => this.quickExit()));
  }

  showQuestions() {
    const questions = Array.isArray(this.verified.profile.questions) ? this.verified.profile.questions : [];
    if (questions.length === 0) {
      this.startChat({});
      return;
    }
    this.show(questionsScreen(questions, (answers) => this.startChat(answers)));
  }

  async startChat(answers) {
    const screen = connectingScreen();
    this.show(screen);
    // The relay may ask for a proof of work first (a busy line): say what is happening.
    this.relay.onProof = () => {
      const status = screen.querySelector("[data-proof-status]");
      if (status) status.textContent = TEXT.connectingSecurely;
    };
    let conversation;
    try {
      conversation = await Conversation.open(this.relay, this.config);
    } catch (error) {
      this.handleError(error);
      return;
    }
    if (this.stopped) {
      conversation.drop();
      return;
    }
    this.conversation = conversation;
    this.chat = new ChatView(this.verified.profile, {
      onSend: (text, onState) => this.sendText(text, onState),
      onRetry: () => this.conversation?.retry?.(),
      onEnd: () => this.endByParticipant(),
      onDuress: () => this.duress(),
    });
    this.show(this.chat.node);
    // The whole chat (log, message box, Send) fits the viewport below the exit bar.
    this.chat.node.scrollIntoView?.({ block: "start" });
    // The program's safety check-in, from the signed profile, always comes first.
    if (this.verified.profile.safety_check_in) {
      this.chat.addNotice("safety_check_in", String(this.verified.profile.safety_check_in));
    }
    // Answers travel end-to-end, inside the session, or not at all (first in the outbox).
    if (Object.keys(answers).length > 0) {
      conversation.enqueue({ t: "answers", answers, ts: Date.now() });
    }
    conversation.listen({
      onPayload: (payload, missing) => this.receive(payload, missing),
      onClosed: () => this.endByProgram(),
      onError: (error) => this.handleError(error),
      onConnection: (state) => this.chat?.setConnection(state),
      reconnectMs: this.config.reconnectMs,
    });
  }

  receive(payload, missing) {
    if (!this.chat) return;
    if (missing > 0) this.chat.addFlag(TEXT.missing, "missing");
    switch (payload.t) {
      case "text":
        this.chat.addMessage("program", String(payload.body));
        break;
      case "notice":
        // The closing text is kept (only it, a canned notice) for the ended screen.
        if (payload.kind === "closing") this.closingText = String(payload.body);
        // `kind` is one of the protocol's NOTICE_KINDS (decodePayload refuses any other).
        // The check-in from the signed profile is already first in the log.
        if (payload.kind === "safety_check_in" && payload.body === this.verified.profile.safety_check_in) break;
        this.chat.addNotice(payload.kind, payload.body);
        break;
      case "code_word_request":
        this.chat.addCodeWordPrompt(String(payload.alias), (alias, word) => this.sendCodeWord(alias, word));
        break;
      case "invite":
        // Adding a third party needs the participant's consent and a session to the
        // newcomer; this widget does not open one, so it says so and declines: nothing
        // is ever encrypted to anyone but the program.
        this.chat.addFlag(TEXT.inviteDeclined(String(payload.role ?? "")), "invite-declined");
        this.conversation?.enqueue({ t: "consent", slot: payload.slot, accept: false, ts: Date.now() });
        break;
      case "close":
        this.endByProgram(payload.reason === "inactivity" ? "inactivity" : "staff");
        break;
      // What is happening, from the node, end to end encrypted like every message.
      case "queue":
        this.chat.setQueue(payload.position);
        break;
      case "joined":
        this.chat.joined(String(payload.name));
        break;
      case "typing":
        this.chat.setTyping(payload.active);
        break;
      case "delivered":
        this.chat.markDelivered(payload.count);
        break;
      default:
        // system events and invitations carry nothing to show here.
        break;
    }
  }

  /** Into the outbox: sent in order, through a dead spot; `onState` follows it. */
  sendText(body, onState) {
    this.conversation?.enqueue({ t: "text", body, ts: Date.now() }, onState);
  }

  sendCodeWord(alias, word) {
    if (!this.conversation) return Promise.resolve(false);
    return this.conversation.enqueue({ t: "code_word_answer", alias, word, ts: Date.now() });
  }

  async endByParticipant() {
    const conversation = this.conversation;
    this.wipe();
    this.showEnded("participant");
    if (conversation) await conversation.closeAndDrop("participant");
  }

  /** `by`: "staff", "inactivity" (from the close payload) or "relay" (its closed frame). */
  endByProgram(by = "relay") {
    if (!this.conversation) return;
    const conversation = this.conversation;
    this.wipe();
    conversation.drop();
    this.showEnded(by);
  }

  showEnded(by) {
    const closing = this.closingText;
    this.closingText = null;
    this.show(endedScreen({
      by, closing, verified: this.verified, fallbackNodes: this.fallbackNodes,
      onStartNew: () => this.load(),
    }));
  }

  /** Cover the page, tell the program quietly, leave. */
  async duress() {
    const conversation = this.conversation;
    const target = this.exitTarget();
    coverPage();
    if (conversation) {
      try {
        await conversation.sendDuress();
      } catch {
        // Leave anyway.
      }
    }
    quickExit(target, () => {
      this.wipe();
      conversation?.abandon();
    });
  }

  leavePage() {
    const conversation = this.conversation;
    if (!conversation) return;
    this.wipe();
    conversation.abandon();
    this.showEnded("participant"); // what a Back to a page kept in memory shows
  }

  exitTarget() {
    const fromProfile = safeExitUrl(this.verified?.profile.quick_exit_url, location.href);
    return fromProfile ?? safeExitUrl(this.config.exitUrl, location.href) ?? "about:blank";
  }

  quickExit() {
    const conversation = this.conversation;
    quickExit(this.exitTarget(), () => {
      this.wipe();
      conversation?.abandon();
    });
  }

  /** A verification failure stops the chat; a relay failure shows the alternatives. */
  handleError(error) {
    if (this.stopped) return;
    if (error instanceof RelayUnavailable) {
      const conversation = this.conversation;
      this.wipe();
      conversation?.drop();
      this.show(unavailableScreen("unreachable", this.verified, this.fallbackNodes, null));
      return;
    }
    this.fail();
  }

  fail() {
    const conversation = this.conversation;
    const alternatives = this.verified?.profile.alternatives;
    this.wipe();
    conversation?.closeAndDrop("verification_failed");
    this.stopped = true;
    this.show(warningScreen(alternatives, this.fallbackNodes));
  }

  /**
   * Drop every message and the conversation reference this object holds. The caller
   * then ends the conversation it took (drop() or closeAndDrop(), which also forget the
   * capability token).
   */
  wipe() {
    this.chat?.wipe();
    this.chat = null;
    this.conversation = null;
    clear(this.screen);
    // The engine keeps the subject of the last successful regular-expression match
    // (RegExp.input, a legacy static), which is then the last decrypted plaintext.
    // Matching an empty string replaces it.
    /(?:)/.exec("");
  }
}
