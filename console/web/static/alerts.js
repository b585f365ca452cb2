// Alerts: duress and urgent ones cover the top of every tab concerned, in a colour used
// for nothing else, and stay until acknowledged; quieter ones are banners.

import { openConversation } from "./pane.js";
import { toggleShift } from "./lists.js";
import { $, announce, ctx, state } from "./shared.js";
import { beep } from "./sound.js";
import { alertNode } from "./view.js";

let duressTimer = null;

export function renderAlerts() {
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
  const answer = await ctx.link.request("ack_alert", { alert_id: alert.id });
  if (!answer.ok) { announce(answer.error); return; }
  state.alerts = state.alerts.filter((a) => a.id !== alert.id);
  renderAlerts();
  const next = document.querySelector("#alerts [data-ack]");
  (next || $("conversation-heading")).focus();
  announce("Alert acknowledged.");
}
