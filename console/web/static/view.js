// Building the console's DOM. Every text from a conversation goes in with textContent,
// never as HTML, and with dir="auto" so right-to-left scripts show right.

import { clockTime, duration } from "./format.js";

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

function hidden(text) {
  return el("span", { class: "visually-hidden", text });
}

const NOTICE_NAMES = {
  rights: "Rights notice",
  safety_check_in: "Safety check-in",
  inactivity: "Inactivity notice",
  closing: "Closing notice",
  shift_change: "Shift change notice",
  transfer: "Transfer notice",
  code_word_request: "Code word request",
  custom: "Notice",
};

const MARKERS = {
  possibly_missing: ["Possibly missing", "A message may be missing here."],
  verification_failed: ["Verification failed", "A message could not be verified, so it is not shown."],
  late: ["Late", "This message arrived late."],
};

export function entryNode(entry, myName) {
  const at = clockTime(entry.at_ms);
  const attrs = { "data-seq": entry.seq };
  if (entry.kind === "notice") {
    const name = NOTICE_NAMES[entry.notice_kind] || "Notice";
    return el("li", { ...attrs, class: "entry entry-notice" },
      el("p", { class: "entry-meta" }, `${name}, seen by the participant · ${at}`),
      el("p", { class: "entry-text", dir: "auto", text: entry.text }));
  }
  if (entry.kind === "marker") {
    const [title, fallback] = MARKERS[entry.marker] || ["Marker", ""];
    return el("li", { ...attrs, class: `entry entry-marker entry-marker-${entry.marker}` },
      el("p", { class: "entry-text" }, el("strong", { text: `${title}: ` }),
        el("span", { dir: "auto", text: entry.text || fallback }), ` · ${at}`));
  }
  if (entry.kind === "event") {
    return el("li", { ...attrs, class: "entry entry-event" },
      el("p", { class: "entry-text" }, el("span", { dir: "auto", text: entry.text }), ` · ${at}`));
  }
  let who = "Participant";
  let side = "participant";
  if (entry.from === "staff") {
    side = "staff";
    who = entry.staff_name === myName ? "You" : entry.staff_name || "Support worker";
  } else if (entry.from === "program") {
    side = "program";
    who = "Program";
  }
  return el("li", { ...attrs, class: `entry entry-message entry-from-${side}` },
    el("p", { class: "entry-meta" }, `${who} · ${at}`),
    el("p", { class: "entry-text", dir: "auto", text: entry.text }));
}

export function waitingItem(summary, onTake, now) {
  const since = summary.waiting_since_ms || summary.opened_at_ms;
  return el("li", { class: summary.urgent ? "item item-urgent" : "item", "data-key": `w:${summary.id}` },
    el("span", { class: "item-label", text: summary.label }),
    summary.urgent ? el("span", { class: "badge badge-urgent", text: "Urgent" }) : null,
    el("span", { class: "item-time", text: `waited ${duration(since, now)}` }),
    el("button", { type: "button", class: "button button-small", "data-key": `take:${summary.id}`,
      onclick: () => onTake(summary) }, "Take", hidden(` ${summary.label}`)));
}

export function mineItem(summary, { unread, current, onOpen, now }) {
  const last = summary.last_participant_at_ms;
  const parts = [el("span", { class: "item-label", text: summary.label })];
  if (summary.urgent) parts.push(el("span", { class: "badge badge-urgent", text: "Urgent" }));
  if (unread) parts.push(el("span", { class: "badge badge-unread", text: `${unread} new` }));
  parts.push(el("span", { class: "item-time",
    text: last ? `last message ${duration(last, now)} ago` : "no message yet" }));
  return el("li", { class: "item" },
    el("button", { type: "button", class: "item-button", "data-key": `m:${summary.id}`,
      "aria-current": current ? "true" : null, onclick: () => onOpen(summary.id) }, ...parts));
}

export function othersItem(summary, { current, onOpen, now }) {
  const since = summary.opened_at_ms;
  return el("li", { class: "item" },
    el("button", { type: "button", class: "item-button", "data-key": `o:${summary.id}`,
      "aria-current": current ? "true" : null, onclick: () => onOpen(summary.id) },
      el("span", { class: "item-label", text: summary.label }),
      summary.urgent ? el("span", { class: "badge badge-urgent", text: "Urgent" }) : null,
      el("span", { class: "item-time", text: `${summary.assigned_name || "someone"} · ${duration(since, now)}` })));
}

const ALERT_TITLES = {
  duress: "Duress signal",
  urgent: "Urgent",
  handoff_needed: "Hand-off needed",
  shift_ending: "Your shift is ending",
};

export function alertNode(alert, { onAck, onOpen, onHandOff }) {
  const loud = alert.kind === "duress" || alert.kind === "urgent";
  const title = `${ALERT_TITLES[alert.kind] || "Alert"}${alert.label ? `: ${alert.label}` : ""}`;
  return el("div", { class: loud ? "alert alert-loud" : "alert alert-quiet", role: loud ? "alert" : "status",
    "data-alert-id": alert.id },
    el("h2", { class: "alert-title", text: title }),
    el("p", { class: "alert-text", dir: "auto", text: alert.text }),
    el("p", { class: "alert-time", text: `Since ${clockTime(alert.at_ms)}` }),
    el("div", { class: "alert-buttons" },
      alert.conversation_id ? el("button", { type: "button", class: "button",
        "data-open-cid": alert.conversation_id, onclick: () => onOpen(alert.conversation_id) },
        `Open ${alert.label || "the conversation"}`) : null,
      alert.kind === "shift_ending" ? el("button", { type: "button", class: "button button-secondary",
        onclick: onHandOff }, "Go off shift and hand off") : null,
      el("button", { type: "button", class: "button", "data-ack": alert.id, onclick: () => onAck(alert) },
        "Acknowledge", hidden(` ${title}`))));
}
