// The shift screen: shows the node's state as it comes over the socket, and sends the
// worker's actions. Everything it knows is in memory (never in browser storage) and is
// wiped at sign-out.

import { clockTime, duration } from "./format.js";
import { Link } from "./link.js";
import { beep, setEnabled, unlock } from "./sound.js";
import { alertNode, el, entryNode, mineItem, othersItem, waitingItem } from "./view.js";

const $ = (id) => document.getElementById(id);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const supervisor = $("others-list") !== null;
const TOUCH_EVERY_MS = 60000;
const WARN_BEFORE_MS = 2 * 60000;

const state = {
  me: null, line: null, waiting: [], mine: [], others: [], alerts: [], colleagues: [],
  savedReplies: [], aliases: [], idleMinutes: 30, first: true,
  open: null, timelines: new Map(), unread: new Map(), drafts: new Map(), codeWords: new Map(),
  lastActivity: Date.now(), lastTouch: 0,
};

function announce(text) {
  const region = $("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

function find(cid) {
  return state.mine.find((s) => s.id === cid) || state.others.find((s) => s.id === cid)
    || state.waiting.find((s) => s.id === cid) || null;
}

function isMine(cid) {
  return state.mine.some((s) => s.id === cid);
}

// -- keeping focus where it was when a list is drawn again ------------------------------

function redraw(draw) {
  const key = document.activeElement?.getAttribute("data-key");
  draw();
  if (key) document.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

// -- header, queue, lists --------------------------------------------------------------

function renderHeader() {
  const me = state.me;
  if (!me) return;
  const toggle = $("shift-toggle");
  toggle.disabled = false;
  toggle.textContent = me.on_shift ? "Go off shift" : "Go on shift";
  $("shift-until-field").hidden = me.on_shift;
  $("shift-state").textContent = me.on_shift
    ? `On shift${me.shift_ends_at_ms ? ` until ${clockTime(me.shift_ends_at_ms)}` : ""}`
    : "Off shift";
  const line = state.line || {};
  const words = { open: "open", busy: "busy", closed: "closed", outage: "out of service" };
  $("line-state").textContent =
    `Line ${words[line.status] || line.status || "unknown"} · ${line.on_shift ?? 0} on shift`;
  $("take-next").disabled = !me.on_shift || state.waiting.length === 0;
}

function renderLists() {
  const now = Date.now();
  redraw(() => {
    $("waiting-count").textContent = String(state.waiting.length);
    $("waiting-list").replaceChildren(...state.waiting.map((s) => waitingItem(s, claim, now)));
    $("mine-count").textContent = String(state.mine.length);
    $("mine-list").replaceChildren(...state.mine.map((s) => mineItem(s, {
      unread: state.unread.get(s.id) || 0, current: s.id === state.open, onOpen: openConversation, now })));
    if (supervisor) {
      $("others-count").textContent = String(state.others.length);
      $("others-list").replaceChildren(...state.others.map((s) => othersItem(s, {
        current: s.id === state.open, onOpen: openConversation, now })));
    }
  });
  const unread = [...state.unread.values()].reduce((a, b) => a + b, 0);
  const base = document.title.replace(/^\(\d+\) /, "");
  document.title = unread ? `(${unread}) ${base}` : base;
}

function renderBanners() {
  const me = state.me;
  const banners = [];
  const ending = state.alerts.some((a) => a.kind === "shift_ending");
  if (me?.on_shift && me.last_30 && !ending) {
    banners.push(el("div", { class: "banner", role: "status" },
      el("p", {}, `Your shift ends${me.shift_ends_at_ms ? ` at ${clockTime(me.shift_ends_at_ms)}` : " soon"}. `
        + "You will not be given new conversations now. When you go off shift, your conversations "
        + "are passed to colleagues on shift."),
      el("button", { type: "button", class: "button button-secondary", onclick: toggleShift },
        "Go off shift and hand off")));
  }
  const idleLeft = state.idleMinutes * 60000 - (Date.now() - state.lastActivity);
  if (idleLeft < WARN_BEFORE_MS) {
    banners.push(el("div", { class: "banner", role: "alert" },
      el("p", {}, "You will be signed out in about 2 minutes because the console has not been used. "
        + "Press a key or click anywhere to stay signed in.")));
  }
  $("banners").replaceChildren(...banners);
}

// -- alerts ------------------------------------------------------------------------------

let duressTimer = null;

function renderAlerts() {
  const box = $("alerts");
  const ids = new Set(state.alerts.map((a) => a.id));
  for (const node of [...box.children]) {
    if (!ids.has(node.getAttribute("data-alert-id"))) node.remove();
  }
  const shown = new Set([...box.children].map((n) => n.getAttribute("data-alert-id")));
  for (const alert of state.alerts) {
    if (shown.has(alert.id)) continue;
    box.append(alertNode(alert, { onAck: ackAlert, onOpen: openConversation, onHandOff: toggleShift }));
    beep(alert.kind === "duress" || alert.kind === "urgent" ? "duress" : "message");
  }
  // "Open" only while the conversation is still there (the widget may have left at once).
  const visible = new Set([...state.mine, ...state.others].map((s) => s.id));
  for (const button of box.querySelectorAll("[data-open-cid]")) {
    button.hidden = !visible.has(button.getAttribute("data-open-cid"));
  }
  const loud = state.alerts.some((a) => a.kind === "duress" || a.kind === "urgent");
  document.body.classList.toggle("has-loud-alert", loud);
  if (loud && !duressTimer) duressTimer = setInterval(() => beep("duress"), 20000);
  if (!loud && duressTimer) { clearInterval(duressTimer); duressTimer = null; }
}

async function ackAlert(alert) {
  const answer = await link.request("ack_alert", { alert_id: alert.id });
  if (!answer.ok) { announce(answer.error); return; }
  state.alerts = state.alerts.filter((a) => a.id !== alert.id);
  renderAlerts();
  const next = document.querySelector("#alerts [data-ack]");
  (next || $("conversation-heading")).focus();
  announce("Alert acknowledged.");
}

// -- the open conversation ----------------------------------------------------------------

function renderConversation() {
  const cid = state.open;
  const summary = cid ? find(cid) : null;
  const heading = $("conversation-heading");
  const mine = cid && isMine(cid);
  $("timeline").hidden = !cid;
  $("conversation-empty").hidden = Boolean(cid);
  $("composer").hidden = !mine;
  $("about-content").hidden = !cid;
  document.body.classList.toggle("has-open", Boolean(cid));
  if (!cid) {
    heading.textContent = "No conversation open";
    return;
  }
  const label = summary?.label || "Conversation";
  heading.textContent = mine ? `${label} · yours`
    : `${label} · held by ${summary?.assigned_name || "someone else"}`;
  $("reply-label").textContent = `Your reply to ${label}`;
  $("send").textContent = `Send to ${label}`;
  $("mine-actions").hidden = !mine;
  if (supervisor) {
    $("supervisor-actions").hidden = false;
    $("take-over").hidden = Boolean(mine);
  }
  $("fact-started").textContent = summary ? `${clockTime(summary.opened_at_ms)} (${duration(summary.opened_at_ms)} ago)` : "";
  $("fact-silence").textContent = summary?.last_participant_at_ms
    ? `${duration(summary.last_participant_at_ms)} ago` : "No message yet";
  $("fact-holder").textContent = mine ? "You" : summary?.assigned_name || "Nobody";
  $("code-word-result").textContent = state.codeWords.get(cid) || "";
  renderTransferChoices();
}

function renderTimeline() {
  const entries = state.timelines.get(state.open) || [];
  $("entries").replaceChildren(...entries.map((e) => entryNode(e, state.me?.name)));
  scrollTimeline();
}

// The timeline stays at its newest entry unless the worker scrolled up to read.
let stickToEnd = true;

function scrollTimeline() {
  const box = $("timeline");
  box.scrollTop = box.scrollHeight;
  stickToEnd = true;
}

$("timeline").addEventListener("scroll", () => {
  const box = $("timeline");
  stickToEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 40;
});
new ResizeObserver(() => { if (stickToEnd) $("timeline").scrollTop = $("timeline").scrollHeight; })
  .observe($("timeline"));

function addEntry(cid, entry) {
  const list = state.timelines.get(cid);
  if (!list) return false;
  if (list.some((e) => e.seq === entry.seq)) return false;
  list.push(entry);
  list.sort((a, b) => a.seq - b.seq);
  return true;
}

async function openConversation(cid, { focus = true } = {}) {
  const previous = state.open;
  if (previous && previous !== cid) state.drafts.set(previous, $("reply").value);
  const answer = await link.request("open", { conversation_id: cid });
  if (!answer.ok) {
    announce(answer.error);
    $("queue-message").textContent = answer.error;
    return;
  }
  state.open = cid;
  state.timelines.set(cid, [...answer.timeline].sort((a, b) => a.seq - b.seq));
  state.unread.delete(cid);
  $("reply").value = state.drafts.get(cid) || "";
  $("reply-error").hidden = true;
  $("action-message").textContent = "";
  $("conversation-status").textContent = "";
  renderConversation();
  renderTimeline();
  renderLists();
  if (focus) $("conversation-heading").focus();
}

function closeView(cid, message) {
  state.timelines.delete(cid);
  state.unread.delete(cid);
  state.drafts.delete(cid);
  state.codeWords.delete(cid);
  if (state.open === cid) {
    state.open = null;
    $("reply").value = "";
    $("entries").replaceChildren();
    renderConversation();
    $("conversation-status").textContent = message;
  }
}

// -- actions ----------------------------------------------------------------------------

async function claim(summary) {
  const answer = await link.request("claim", { conversation_id: summary.id });
  if (!answer.ok) {
    $("queue-message").textContent = answer.error;
    $("waiting-heading").focus();
    return;
  }
  $("queue-message").textContent = "";
  await openConversation(summary.id);
}

async function takeNext() {
  const answer = await link.request("take_next");
  if (!answer.ok) { $("queue-message").textContent = answer.error; return; }
  if (!answer.conversation_id) { $("queue-message").textContent = "Nobody is waiting."; return; }
  $("queue-message").textContent = "";
  await openConversation(answer.conversation_id);
}

async function send(event) {
  event.preventDefault();
  const cid = state.open;
  const box = $("reply");
  const text = box.value;
  const error = $("reply-error");
  if (!text.trim()) {
    error.textContent = "Write a reply before sending.";
    error.hidden = false;
    box.setAttribute("aria-invalid", "true");
    box.focus();
    return;
  }
  const answer = await link.request("send", { conversation_id: cid, text });
  if (!answer.ok) {
    error.textContent = answer.error;
    error.hidden = false;
    box.focus();
    return;
  }
  error.hidden = true;
  box.removeAttribute("aria-invalid");
  if (state.open === cid) box.value = "";
  state.drafts.delete(cid);
  box.focus();
}

function insertSavedReply(reply) {
  const box = $("reply");
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  box.value = box.value.slice(0, start) + reply.text + box.value.slice(end);
  $("saved-replies").open = false;
  box.focus();
  box.setSelectionRange(start + reply.text.length, start + reply.text.length);
  announce(`Saved reply "${reply.title}" put in your reply. It is not sent yet.`);
}

function renderSavedReplies() {
  const groups = new Map();
  for (const reply of state.savedReplies) {
    if (!groups.has(reply.group)) groups.set(reply.group, []);
    groups.get(reply.group).push(reply);
  }
  const parts = [];
  for (const [group, replies] of groups) {
    parts.push(el("h3", { class: "saved-group", text: group || "Saved replies" }));
    parts.push(el("ul", { class: "saved-list" }, ...replies.map((reply) => el("li", {},
      el("button", { type: "button", class: "button button-small button-secondary",
        onclick: () => insertSavedReply(reply) }, reply.title)))));
  }
  if (!parts.length) parts.push(el("p", { class: "hint", text: "No saved replies yet." }));
  $("saved-replies-list").replaceChildren(...parts);
  $("alias").replaceChildren(...state.aliases.map((a) => el("option", { value: a, text: a })));
  $("ask-code-word").disabled = state.aliases.length === 0;
}

function renderTransferChoices() {
  const select = $("transfer-to");
  const chosen = select.value;
  const options = state.colleagues
    .filter((c) => c.staff_id !== state.me?.staff_id && c.on_shift && c.eligible)
    .map((c) => el("option", { value: c.staff_id, text: `${c.name} (${c.role === "worker" ? "support worker" : c.role})` }));
  if (!options.length) options.push(el("option", { value: "", text: "Nobody else is on shift" }));
  select.replaceChildren(...options);
  if (chosen) select.value = chosen;
  $("transfer").disabled = !select.value;
}

async function conversationAction(op, args, done) {
  const cid = state.open;
  const label = find(cid)?.label || "the conversation";
  const answer = await link.request(op, { conversation_id: cid, ...args });
  if (!answer.ok) {
    $("action-message").textContent = answer.error;
    return;
  }
  const message = done(label);
  if (op !== "ask_code_word") {
    closeView(cid, message);
    // The node's snapshot may have closed the view first: say what happened anyway.
    if (state.open === null) $("conversation-status").textContent = message;
    $("mine-heading").focus();
  } else {
    $("action-message").textContent = message;
  }
  announce(message);
}

function confirmDialog({ title, text, yes, no }) {
  const dialog = $("confirm");
  $("confirm-heading").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  $("confirm-no").textContent = no;
  return new Promise((resolve) => {
    const finish = (value) => {
      $("confirm-yes").onclick = null;
      $("confirm-no").onclick = null;
      dialog.oncancel = null;
      dialog.close();
      resolve(value);
    };
    $("confirm-yes").onclick = () => finish(true);
    $("confirm-no").onclick = () => finish(false);
    dialog.oncancel = (event) => { event.preventDefault(); finish(false); };
    dialog.showModal();
    $("confirm-no").focus();
  });
}

async function endConversation(block) {
  const label = find(state.open)?.label || "this conversation";
  const ok = await confirmDialog(block ? {
    title: `End and block ${label}?`,
    text: "The participant sees the closing notice, the conversation ends, and nothing more is taken from them.",
    yes: `End and block ${label}`, no: "Keep it open",
  } : {
    title: `End ${label}?`,
    text: "The participant sees the closing notice first, then the conversation ends. This cannot be undone.",
    yes: `End ${label}`, no: "Keep it open",
  });
  if (!ok) return;
  await conversationAction(block ? "block" : "end", {},
    (l) => (block ? `${l} ended and blocked.` : `${l} ended.`));
}

// "Until 17:00": today at that time, or tomorrow if that time has passed today.
function untilMs() {
  const value = $("shift-until").value;
  if (!/^\d{2}:\d{2}$/.test(value)) return {};
  const [hours, minutes] = value.split(":").map(Number);
  const end = new Date();
  end.setHours(hours, minutes, 0, 0);
  if (end.getTime() <= Date.now()) end.setDate(end.getDate() + 1);
  return { until_ms: end.getTime() };
}

async function toggleShift() {
  const me = state.me;
  if (!me) return;
  if (me.on_shift) {
    if (state.mine.length) {
      const n = state.mine.length;
      const ok = await confirmDialog({
        title: "Go off shift?",
        text: `Your ${n} ${n === 1 ? "conversation is" : "conversations are"} passed to colleagues on shift, or back to the queue for a supervisor.`,
        yes: "Go off shift", no: "Stay on shift",
      });
      if (!ok) return;
    }
    const answer = await link.request("go_off_shift");
    announce(answer.ok ? "You are off shift." : answer.error);
  } else {
    const answer = await link.request("go_on_shift", untilMs());
    announce(answer.ok ? "You are on shift." : answer.error);
  }
  $("shift-toggle").focus();
}

// -- updates from the node -----------------------------------------------------------

function onSnapshot(frame) {
  const before = new Set(state.waiting.map((s) => s.id));
  const mineBefore = new Set(state.mine.map((s) => s.id));
  Object.assign(state, { me: frame.me, line: frame.line, waiting: frame.waiting || [],
    mine: frame.mine || [], others: frame.others || [], alerts: frame.alerts || [],
    colleagues: frame.colleagues || [] });
  if (!state.first) {
    const fresh = state.waiting.filter((s) => !before.has(s.id));
    if (fresh.length) {
      beep("conversation");
      announce(`New conversation waiting: ${fresh.map((s) => s.label).join(", ")}.`);
      $("waiting-heading").classList.add("flash");
      setTimeout(() => $("waiting-heading").classList.remove("flash"), 4000);
    }
    const given = state.mine.filter((s) => !mineBefore.has(s.id) && s.id !== state.open);
    if (given.length) {
      beep("conversation");
      announce(`${given.map((s) => s.label).join(", ")} passed to you.`);
    }
  }
  state.first = false;
  const visible = new Set([...state.mine, ...state.others].map((s) => s.id));
  if (state.open && !visible.has(state.open)) {
    const label = $("conversation-heading").textContent.split(" · ")[0];
    closeView(state.open, `${label} is no longer yours.`);
  }
  for (const cid of [...state.unread.keys()]) if (!visible.has(cid)) state.unread.delete(cid);
  renderHeader();
  renderLists();
  renderAlerts();
  renderBanners();
  if (state.open) renderConversation();
}


function onEntry(frame) {
  const cid = frame.conversation_id;
  const entry = frame.entry;
  const added = addEntry(cid, entry);
  const fromParticipant = entry.kind === "message" && entry.from === "participant";
  if (fromParticipant) {  // the silence timer restarts now, before the next snapshot
    for (const summary of [...state.mine, ...state.others]) {
      if (summary.id === cid) summary.last_participant_at_ms = entry.at_ms;
    }
    if (cid === state.open) renderConversation();
  }
  if (cid === state.open) {
    if (added) {
      $("entries").append(entryNode(entry, state.me?.name));
      if (stickToEnd || entry.from === "staff") scrollTimeline();
    }
    if (fromParticipant && document.hidden) {
      state.unread.set(cid, (state.unread.get(cid) || 0) + 1);
      beep("message");
    }
  } else if (fromParticipant) {
    state.unread.set(cid, (state.unread.get(cid) || 0) + 1);
    beep("message");
    announce(`New message in ${find(cid)?.label || "a conversation"}.`);
  }
  renderLists();
}

const CODE_WORDS = {
  matches: "matches",
  does_not_match: "does not match",
  locked: "is locked after too many wrong answers",
  unknown_alias: "is not a code word this program has",
};

function onCodeWord(frame) {
  const text = `Code word "${frame.alias}" ${CODE_WORDS[frame.outcome] || "could not be checked"}.`;
  state.codeWords.set(frame.conversation_id, text);
  if (frame.conversation_id === state.open) $("code-word-result").textContent = text;
  else announce(`${find(frame.conversation_id)?.label || "A conversation"}: ${text}`);
}

function onUpdate(frame) {
  if (frame.type === "setup") {
    state.savedReplies = frame.saved_replies || [];
    state.aliases = frame.code_word_aliases || [];
    state.idleMinutes = frame.idle_minutes || 30;
    renderSavedReplies();
  } else if (frame.type === "snapshot") {
    onSnapshot(frame);
  } else if (frame.type === "entry") {
    onEntry(frame);
  } else if (frame.type === "code_word") {
    onCodeWord(frame);
  } else if (frame.type === "closed") {
    const label = find(frame.conversation_id)?.label || "The conversation";
    if (state.open === frame.conversation_id) closeView(frame.conversation_id, `${label} has ended.`);
    announce(`${label} has ended.`);
  }
}

// -- sign-out: nothing readable stays ------------------------------------------------

function wipe() {
  for (const map of [state.timelines, state.unread, state.drafts, state.codeWords]) map.clear();
  state.waiting = state.mine = state.others = state.alerts = [];
  for (const id of ["entries", "waiting-list", "mine-list", "alerts", "banners", "announce",
    "conversation-status", "code-word-result", "saved-replies-list"]) $(id)?.replaceChildren();
  $("reply").value = "";
}

function signedOut(reason) {
  wipe();
  document.body.replaceChildren();
  location.replace(`/signin?reason=${encodeURIComponent(reason)}`);
}

// -- activity (for idle sign-out) -------------------------------------------------------

function activity() {
  unlock();
  const now = Date.now();
  const warned = $("banners").querySelector('[role="alert"]') !== null;
  state.lastActivity = now;
  if (warned || now - state.lastTouch > TOUCH_EVERY_MS) {
    state.lastTouch = now;
    link.request("touch");
    if (warned) renderBanners();
  }
}

// -- wiring ----------------------------------------------------------------------------

const link = new Link({
  csrf,
  onUpdate,
  onSignedOut: signedOut,
  onState: (s) => {
    $("connection").textContent = s === "connected" ? "" : "The connection was lost. Trying again…";
    if (s === "connected" && state.open) openConversation(state.open, { focus: false });
  },
});

$("shift-toggle").addEventListener("click", toggleShift);
$("take-next").addEventListener("click", takeNext);
$("composer").addEventListener("submit", send);
$("reply").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
$("sound").addEventListener("change", (event) => {
  setEnabled(event.target.checked);
  announce(event.target.checked ? "Sound on." : "Sound off.");
});
$("ask-code-word").addEventListener("click", () => {
  $("code-word-result").textContent = "Asked. Waiting for the participant's answer…";
  conversationAction("ask_code_word", { alias: $("alias").value },
    (l) => `Code word asked in ${l}. Only "matches" or "does not match" will show.`);
});
$("transfer-to").addEventListener("change", () => { $("transfer").disabled = !$("transfer-to").value; });
$("transfer").addEventListener("click", () => {
  const name = $("transfer-to").selectedOptions[0]?.textContent || "your colleague";
  conversationAction("transfer", { to_staff_id: $("transfer-to").value },
    (l) => `${l} passed to ${name}.`);
});
$("escalate").addEventListener("click", () =>
  conversationAction("escalate", {}, (l) => `${l} passed to a supervisor.`));
$("end").addEventListener("click", () => endConversation(false));
if (supervisor) {
  $("block").addEventListener("click", () => endConversation(true));
  $("take-over").addEventListener("click", async () => {
    const cid = state.open;
    const answer = await link.request("claim", { conversation_id: cid });
    if (!answer.ok) { $("action-message").textContent = answer.error; return; }
    await openConversation(cid);
    announce(`You took over ${find(cid)?.label || "the conversation"}.`);
  });
}
$("signout-form").addEventListener("submit", () => {
  link.stop();
  wipe();
});
for (const type of ["keydown", "pointerdown"]) document.addEventListener(type, activity, true);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.open && state.unread.get(state.open)) {
    state.unread.delete(state.open);
    renderLists();
  }
});
window.addEventListener("pageshow", (event) => { if (event.persisted) location.reload(); });
setInterval(() => { renderLists(); renderBanners(); if (state.open) renderConversation(); }, 15000);

link.connect();
