// The top bar, the banners and the lists: waiting, mine, held by others; taking one and
// the shift itself.

import { clockTime } from "./format.js";
import { confirmDialog } from "./dialog.js";
import { openConversation } from "./pane.js";
import { $, announce, ctx, state, supervisor } from "./shared.js";
import { el, mineItem, othersItem, waitingItem } from "./view.js";

const WARN_BEFORE_MS = 2 * 60000;

// -- keeping focus where it was when a list is drawn again ------------------------------

function redraw(draw) {
  const key = document.activeElement?.getAttribute("data-key");
  draw();
  if (key) document.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus();
}

// -- header, queue, lists --------------------------------------------------------------

export function renderHeader() {
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

export function renderLists() {
  const now = Date.now();
  redraw(() => {
    $("waiting-count").textContent = String(state.waiting.length);
    const empty = (text) => [el("li", { class: "item item-empty", text })];
    $("waiting-list").replaceChildren(...(state.waiting.length
      ? state.waiting.map((s) => waitingItem(s, claim, now)) : empty("Nobody is waiting.")));
    $("mine-count").textContent = String(state.mine.length);
    $("mine-list").replaceChildren(...(state.mine.length ? state.mine.map((s) => mineItem(s, {
      unread: state.unread.get(s.id) || 0, current: s.id === state.open, onOpen: openConversation, now }))
      : empty("None at the moment.")));
    if (supervisor) {
      $("others-count").textContent = String(state.others.length);
      $("others-list").replaceChildren(...(state.others.length ? state.others.map((s) => othersItem(s, {
        current: s.id === state.open, onOpen: openConversation, now })) : empty("None at the moment.")));
    }
  });
  const unread = [...state.unread.values()].reduce((a, b) => a + b, 0);
  const base = document.title.replace(/^\(\d+\) /, "");
  document.title = unread ? `(${unread}) ${base}` : base;
}

export function renderBanners() {
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

export async function claim(summary) {
  const answer = await ctx.link.request("claim", { conversation_id: summary.id });
  if (!answer.ok) {
    $("queue-message").textContent = answer.error;
    $("waiting-heading").focus();
    return;
  }
  $("queue-message").textContent = "";
  await openConversation(summary.id);
}

export async function takeNext() {
  const answer = await ctx.link.request("take_next");
  if (!answer.ok) { $("queue-message").textContent = answer.error; return; }
  if (!answer.conversation_id) { $("queue-message").textContent = "Nobody is waiting."; return; }
  $("queue-message").textContent = "";
  await openConversation(answer.conversation_id);
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

export async function toggleShift() {
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
    const answer = await ctx.link.request("go_off_shift");
    announce(answer.ok ? "You are off shift." : answer.error);
  } else {
    const answer = await ctx.link.request("go_on_shift", untilMs());
    announce(answer.ok ? "You are on shift." : answer.error);
  }
  $("shift-toggle").focus();
}
