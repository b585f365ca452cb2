// The shift screen: shows the node's state as it comes over the socket, and sends the
// worker's actions. Everything it knows is in memory (never in browser storage) and is
// wiped at sign-out. The parts: shared.js (state), lists.js, pane.js, alerts.js,
// dialog.js, view.js (DOM), link.js (socket), sound.js, format.js, typing.js.

import { renderAlerts } from "./alerts.js";
import { confirmDialog } from "./dialog.js";
import { clockTime } from "./format.js";
import { Link } from "./link.js";
import { renderBanners, renderHeader, renderLists, takeNext, toggleShift } from "./lists.js";
import {
  addEntry, closeView, conversationAction, endConversation, openConversation,
  renderConversation, renderSavedReplies, send, showEntry,
} from "./pane.js";
import { $, announce, ctx, find, state, supervisor } from "./shared.js";
import { beep, setEnabled, unlock } from "./sound.js";
import { replyChanged } from "./typing.js";

const csrf = document.querySelector('meta[name="csrf-token"]').content;
const TOUCH_EVERY_MS = 60000;

// -- updates from the node -----------------------------------------------------------

// The saved replies and code words changed (an admin edited them): fetch them again.
async function refreshLibrary(version) {
  state.library = version;
  const answer = await ctx.link.request("library", {});
  if (!answer.ok || !answer.library || state.library !== version) return;
  state.savedReplies = answer.library.saved_replies || [];
  state.aliases = answer.library.code_word_aliases || [];
  renderSavedReplies();
}

// The program's name, time zone and idle sign-out as the node has them now: an admin
// may have changed them while this page was open.
function applyConsole(info) {
  if (!info) return;
  const heading = document.querySelector(".topbar-name");
  if (info.program_name && heading?.firstChild?.nodeType === Node.TEXT_NODE) {
    heading.firstChild.textContent = `${info.program_name} `;
    document.title = `Shift · ${info.program_name} console`;
  }
  if (info.timezone) document.body.dataset.timezone = info.timezone;
  else delete document.body.dataset.timezone;
  if (info.idle_minutes) state.idleMinutes = info.idle_minutes;
}

function onSnapshot(frame) {
  applyConsole(frame.console);
  if (frame.library !== undefined && state.library !== undefined && frame.library !== state.library) {
    refreshLibrary(frame.library);
  } else if (frame.library !== undefined) {
    state.library = frame.library;
  }
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
      showEntry(entry);
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
$("reply").addEventListener("input", (event) => {
  replyChanged(state.open, event.target.value.trim() === "");
});
$("reply").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    $("composer").requestSubmit();
  }
});
setEnabled($("sound").checked);
$("sound").addEventListener("change", (event) => {
  setEnabled(event.target.checked);
  link.request("sound", { on: event.target.checked });
  announce(event.target.checked ? "Sound on." : "Sound off.");
});
$("ask-code-word").addEventListener("click", () => {
  const asked = "Asked. Waiting for the participant's answer…";
  state.codeWords.set(state.open, asked);
  $("code-word-result").textContent = asked;
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
// Signing out does not end a shift: say so while conversations are still yours.
let signOutConfirmed = false;
$("signout-form").addEventListener("submit", async (event) => {
  if (!signOutConfirmed && state.me?.on_shift && state.mine.length) {
    event.preventDefault();
    const n = state.mine.length;
    const until = state.me.shift_ends_at_ms ? ` until ${clockTime(state.me.shift_ends_at_ms)}` : "";
    const ok = await confirmDialog({
      title: "Sign out while on shift?",
      text: `You stay on shift${until} and your ${n} ${n === 1 ? "conversation stays" : "conversations stay"} `
        + "yours. To pass them on, go off shift first.",
      yes: "Sign out", no: "Stay signed in",
    });
    if (!ok) return;
    signOutConfirmed = true;
    $("signout-form").requestSubmit();
    return;
  }
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

ctx.link = link;
link.connect();
