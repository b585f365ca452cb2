// The open conversation: its timeline, the reply box, saved replies and the actions on
// it (code word, transfer, escalate, end).

import { confirmDialog } from "./dialog.js";
import { clockTime, duration } from "./format.js";
import { renderLists } from "./lists.js";
import { $, announce, ctx, find, isMine, state, supervisor } from "./shared.js";
import { typingStopped } from "./typing.js";
import { el, entryNode } from "./view.js";

export function renderConversation() {
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

export function renderTimeline() {
  const entries = state.timelines.get(state.open) || [];
  $("entries").replaceChildren(...entries.map((e) => entryNode(e, state.me?.name)));
  scrollTimeline();
}

// The timeline stays at its newest entry unless the worker scrolled up to read.
let stickToEnd = true;

export function scrollTimeline() {
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

// A new entry of the open conversation, at the end (kept in view unless scrolled away).
export function showEntry(entry) {
  $("entries").append(entryNode(entry, state.me?.name));
  if (stickToEnd || entry.from === "staff") scrollTimeline();
}

export function addEntry(cid, entry) {
  const list = state.timelines.get(cid);
  if (!list) return false;
  if (list.some((e) => e.seq === entry.seq)) return false;
  list.push(entry);
  list.sort((a, b) => a.seq - b.seq);
  return true;
}

export async function openConversation(cid, { focus = true } = {}) {
  const previous = state.open;
  if (previous && previous !== cid) {
    state.drafts.set(previous, $("reply").value);
    typingStopped();
  }
  const answer = await ctx.link.request("open", { conversation_id: cid });
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

export function closeView(cid, message) {
  state.timelines.delete(cid);
  state.unread.delete(cid);
  state.drafts.delete(cid);
  state.codeWords.delete(cid);
  if (state.open === cid) {
    typingStopped({ sent: true }); // the conversation is gone: nobody to tell
    state.open = null;
    $("reply").value = "";
    $("entries").replaceChildren();
    renderConversation();
    $("conversation-status").textContent = message;
  }
}

export async function send(event) {
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
  typingStopped({ sent: true }); // the message itself ends the participant's typing line
  const answer = await ctx.link.request("send", { conversation_id: cid, text });
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

export function insertSavedReply(reply) {
  const box = $("reply");
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  box.value = box.value.slice(0, start) + reply.text + box.value.slice(end);
  $("saved-replies").open = false;
  box.focus();
  box.setSelectionRange(start + reply.text.length, start + reply.text.length);
  announce(`Saved reply "${reply.title}" put in your reply. It is not sent yet.`);
}

// The saved replies matching the search box (title, text or group; case and accents
// do not matter), grouped.
function savedMatches() {
  const fold = (text) => text.normalize("NFKD").replace(/\p{M}/gu, "").toLocaleLowerCase();
  const query = fold(($("saved-search")?.value || "").trim());
  if (!query) return state.savedReplies;
  return state.savedReplies.filter((r) => fold(`${r.title}\n${r.text}\n${r.group}`).includes(query));
}

export function renderSavedReplies() {
  const matches = savedMatches();
  const groups = new Map();
  for (const reply of matches) {
    if (!groups.has(reply.group)) groups.set(reply.group, []);
    groups.get(reply.group).push(reply);
  }
  const parts = [];
  for (const [group, replies] of groups) {
    parts.push(el("h3", { class: "saved-group", dir: "auto", text: group || "Saved replies" }));
    parts.push(el("ul", { class: "saved-list" }, ...replies.map((reply) => el("li", {},
      el("button", { type: "button", class: "button button-small button-secondary", dir: "auto",
        onclick: () => insertSavedReply(reply) }, reply.title)))));
  }
  if (!parts.length) {
    const none = state.savedReplies.length ? "No saved reply matches." : "No saved replies yet.";
    parts.push(el("p", { class: "hint", text: none }));
  }
  $("saved-replies-list").replaceChildren(...parts);
  const count = $("saved-search-count");
  if (count) {
    const n = matches.length;
    count.textContent = $("saved-search").value.trim()
      ? `${n} saved ${n === 1 ? "reply matches" : "replies match"}.` : "";
  }
  $("alias").replaceChildren(...state.aliases.map((a) => el("option", { value: a, text: a })));
  $("ask-code-word").disabled = state.aliases.length === 0;
}

// Typing filters; Enter puts the first match in the reply (never sends the form);
// Escape clears the search.
$("saved-search")?.addEventListener("input", renderSavedReplies);
$("saved-search")?.addEventListener("keydown", (event) => {
  if (event.key === "Enter") {
    event.preventDefault();
    const first = savedMatches()[0];
    if (first) insertSavedReply(first);
  } else if (event.key === "Escape" && event.currentTarget.value) {
    event.preventDefault();
    event.currentTarget.value = "";
    renderSavedReplies();
  }
});

let transferKey = "";

export function renderTransferChoices() {
  const select = $("transfer-to");
  const key = JSON.stringify([state.me?.staff_id, state.colleagues]);
  if (key === transferKey) return;  // unchanged: leave the list (and the person's choice) alone
  transferKey = key;
  const chosen = select.value;
  const options = state.colleagues
    .filter((c) => c.staff_id !== state.me?.staff_id && c.on_shift && c.eligible)
    .map((c) => el("option", { value: c.staff_id, text: `${c.name} (${c.role === "worker" ? "support worker" : c.role})` }));
  if (!options.length) options.push(el("option", { value: "", text: "Nobody else is on shift" }));
  select.replaceChildren(...options);
  if (chosen) select.value = chosen;
  $("transfer").disabled = !select.value;
}

export async function conversationAction(op, args, done) {
  const cid = state.open;
  const label = find(cid)?.label || "the conversation";
  const answer = await ctx.link.request(op, { conversation_id: cid, ...args });
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

export async function endConversation(block) {
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
