// The screens before and after the chat. Each function returns a detached element;
// the app swaps it into place and moves focus to its heading.
//
// Only verified text is shown: the program's name, hours, notice, questions and
// alternatives come from the profile after its signature checked out against the
// pinned key; `fallback` nodes come from the program's own page (the snippet).

import { openInfoDialog } from "./dialog.js";
import { el, uid } from "./dom.js";
import { describeClosures, describeHours, zoneName } from "./hours.js";
import { TEXT } from "./text.js";

function heading(text) {
  return el("h2", { class: "quietline-heading", tabindex: "-1", text, dir: "auto" });
}

function para(text, cls = null) {
  return el("p", { class: cls, text, dir: "auto" });
}

function button(text, onClick, { cls = "quietline-button", describedBy = null } = {}) {
  const b = el("button", { type: "button", class: cls, text, "aria-describedby": describedBy });
  b.addEventListener("click", onClick);
  return b;
}

function hoursBlock(hours) {
  if (!hours) return null;
  const id = uid("hours");
  const lines = [...describeHours(hours, TEXT), ...describeClosures(hours, TEXT)];
  return el("div", { class: "quietline-hours" }, [
    el("h3", { id, text: TEXT.hoursHeading }),
    el("ul", { "aria-labelledby": id }, lines.map((line) => el("li", { text: line }))),
    para(TEXT.timezone(zoneName(TEXT.lang, hours.timezone)), "quietline-small"),
  ]);
}

const EMAIL = /^[^\s@<>()]+@[^\s@<>()]+\.[^\s@<>()]+$/;
const PHONE = /^\+?[\d\s().-]{3,}$/;
const TEXTING = /\b(text|sms|texto|mensaje|whatsapp)/i;

/**
 * The link an alternative's value can be tapped as: mailto: for an address, sms: for a
 * number whose label speaks of texting, tel: for any other number; null for anything
 * else (a street address, a web page stays text: the widget opens nothing else).
 */
export function alternativeHref(label, value) {
  const v = String(value).trim();
  if (EMAIL.test(v)) return `mailto:${v}`;
  if (PHONE.test(v) && /\d{3}/.test(v.replace(/\D/g, ""))) {
    const number = v.replace(/[^\d+]/g, "");
    return `${TEXTING.test(String(label)) ? "sms" : "tel"}:${number}`;
  }
  return null;
}

/** Alternatives: verified ones from the profile, then the page's own fallback text. */
export function alternativesBlock(alternatives, fallbackNodes) {
  const id = uid("alternatives");
  const items = (alternatives ?? []).map((a) => {
    const href = alternativeHref(a.label, a.value);
    const value = href ? el("a", { href, text: String(a.value), dir: "auto" }) : String(a.value);
    return el("li", { dir: "auto" }, [el("strong", { text: `${a.label}: ` }), value]);
  });
  return el("div", { class: "quietline-alternatives" }, [
    el("h3", { id, text: TEXT.otherWays }),
    items.length ? el("ul", { "aria-labelledby": id }, items) : null,
    ...fallbackNodes.map((n) => n.cloneNode(true)),
  ]);
}

export function loadingScreen() {
  return el("div", { class: "quietline-screen", "data-screen": "loading" }, [
    heading(TEXT.checking),
    para(TEXT.oneMoment),
  ]);
}

export function startScreen({ profile, hours, status }, onStart) {
  return el("div", { class: "quietline-screen", "data-screen": "start" }, [
    heading(profile.name),
    para(status?.state === "busy" ? TEXT.busyNow : TEXT.openNow, "quietline-live-status"),
    status?.message ? para(status.message) : null,
    hoursBlock(hours),
    para(TEXT.safetyBeforeStart, "quietline-safety"),
    para(TEXT.privateWindow, "quietline-small"),
    button(TEXT.startChat, onStart, { cls: "quietline-button quietline-primary" }),
  ]);
}

// Read when a screen is made (TEXT is the language chosen at mount).
const REASONS = {
  outside_hours: () => [TEXT.outsideHours, TEXT.outsideHoursBody],
  closed: () => [TEXT.closed, TEXT.closedBody],
  outage: () => [TEXT.outage, TEXT.outageBody],
  unknown: () => [TEXT.unknownStatus, TEXT.unknownBody],
  unreachable: () => [TEXT.unreachable, TEXT.unreachableBody],
  setup: () => [TEXT.setup, TEXT.setupBody],
};

/**
 * The program cannot take a chat now: say why, and how else to reach it.
 * `verified` is null when nothing from the relay could be verified.
 */
export function unavailableScreen(reason, verified, fallbackNodes, onRetry) {
  const [title, body] = (REASONS[reason] ?? REASONS.unknown)();
  return el("div", { class: "quietline-screen", "data-screen": "unavailable", "data-reason": reason }, [
    heading(title),
    verified ? para(verified.profile.name, "quietline-program-name") : null,
    // The program's status message only on the screen of that status: a closed screen
    // never says "Chat is open", whatever the hours or the connection did.
    verified?.status?.message && verified.status.state === reason ? para(verified.status.message) : null,
    body ? para(body) : null,
    alternativesBlock(verified?.profile.alternatives, fallbackNodes),
    verified ? hoursBlock(verified.hours) : null,
    onRetry ? button(TEXT.checkAgain, onRetry) : null,
  ]);
}

export function noticeScreen(profile, onAcknowledge, onQuickExit) {
  const n = profile.notice ?? {};
  const section = (title, text) =>
    text ? el("div", { class: "quietline-notice-part" }, [el("h3", { text: title }), para(text)]) : null;
  let address = null;
  if (typeof n.more_url === "string") {
    try {
      const url = new URL(n.more_url);
      if (url.protocol === "https:" || url.protocol === "http:") address = url.href;
    } catch {
      address = null;
    }
  }
  const longer = typeof n.more_text === "string" && n.more_text !== "" ? n.more_text : null;
  let more = null;
  if (address || longer) {
    // Never a link: the program's longer text (or its address, as text) opens in a
    // dialog inside the widget, which Quick exit covers and erases (see dialog.js).
    const opener = el("button", {
      type: "button", class: "quietline-link-button", text: TEXT.moreAbout,
      "aria-haspopup": "dialog", "data-quietline-more": true,
    });
    opener.addEventListener("click", () => {
      openInfoDialog(opener.closest("[data-screen]") ?? opener.parentNode, {
        title: TEXT.moreAbout, text: longer, address, opener, onQuickExit,
      });
    });
    more = el("p", {}, [opener]);
  }
  return el("div", { class: "quietline-screen", "data-screen": "notice" }, [
    heading(TEXT.rightsHeading),
    para(TEXT.rightsIntro),
    section(TEXT.voluntary, n.voluntary),
    section(TEXT.choices, n.choices),
    section(TEXT.information, n.information),
    section(TEXT.mandatoryReporting, n.mandatory_reporting),
    more,
    button(TEXT.acknowledge, onAcknowledge, { cls: "quietline-button quietline-primary" }),
  ]);
}

/**
 * Optional questions. `onDone(answers)` gets only answered, non-skipped questions;
 * "skip all" calls it with an empty object in one click.
 */
export function questionsScreen(questions, onDone) {
  const rows = questions.map((q) => {
    const inputId = uid("answer");
    const whyId = uid("why");
    const input = el("input", {
      id: inputId, type: "text", dir: "auto", autocomplete: "off", "aria-describedby": whyId,
      class: "quietline-input",
    });
    const state = { id: String(q.id), input, skipped: false };
    const skip = el("button", { type: "button", class: "quietline-link-button", text: TEXT.skipOne });
    const skippedNote = el("span", { class: "quietline-skipped", text: TEXT.skipped, hidden: true });
    skip.addEventListener("click", () => {
      state.skipped = !state.skipped;
      input.value = "";
      input.disabled = state.skipped;
      skippedNote.hidden = !state.skipped;
      skip.textContent = state.skipped ? TEXT.undoSkip : TEXT.skipOne;
    });
    state.node = el("div", { class: "quietline-question", "data-question": state.id }, [
      el("label", { for: inputId, dir: "auto", text: String(q.text) }),
      el("p", { id: whyId, class: "quietline-why", dir: "auto" }, [
        el("span", { text: TEXT.whyAsked }), String(q.why ?? ""),
      ]),
      input,
      el("div", { class: "quietline-question-actions" }, [skip, skippedNote]),
    ]);
    return state;
  });
  const collect = () => {
    const answers = {};
    for (const r of rows) {
      const value = r.input.value.trim();
      if (!r.skipped && value !== "") answers[r.id] = value;
    }
    return answers;
  };
  return el("div", { class: "quietline-screen", "data-screen": "questions" }, [
    heading(TEXT.questionsHeading),
    para(TEXT.questionsIntro),
    button(TEXT.skipAll, () => onDone({}), { cls: "quietline-button quietline-primary" }),
    ...rows.map((r) => r.node),
    button(TEXT.sendAnswers, () => onDone(collect())),
  ]);
}

export function connectingScreen() {
  return el("div", { class: "quietline-screen", "data-screen": "connecting" }, [
    heading(TEXT.connecting),
    para(TEXT.oneMoment),
    el("p", { "data-proof-status": "", role: "status", "aria-live": "polite" }, []),
  ]);
}

/**
 * The end: why it ended, the program's closing text if it sent one, the other ways to
 * reach it, "Start a new chat" and a word on browser History. The conversation itself
 * is gone from the page; only the closing text (a canned notice) is kept.
 */
export function endedScreen({ by, closing, verified, fallbackNodes, onStartNew }) {
  return el("div", { class: "quietline-screen", "data-screen": "ended", "data-ended-by": by }, [
    heading(TEXT.endedHeading),
    para(TEXT.endedBy[by] ?? TEXT.endedBy.relay, "quietline-live-status"),
    closing
      ? el("div", { class: "quietline-closing" }, [
        el("h3", { text: TEXT.closingFromProgram }),
        para(closing),
      ])
      : null,
    para(TEXT.endedBody),
    alternativesBlock(verified?.profile.alternatives, fallbackNodes),
    onStartNew ? button(TEXT.startNew, onStartNew, { cls: "quietline-button quietline-primary" }) : null,
    para(TEXT.historyAdvice, "quietline-safety"),
  ]);
}

export function warningScreen(verifiedAlternatives, fallbackNodes) {
  return el("div", { class: "quietline-screen quietline-warning", "data-screen": "warning", role: "alert" }, [
    heading(TEXT.warningHeading),
    para(TEXT.warningBody),
    para(TEXT.warningAdvice),
    alternativesBlock(verifiedAlternatives, fallbackNodes),
  ]);
}
