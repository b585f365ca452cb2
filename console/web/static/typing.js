// Tells the participant that the support worker is writing a reply. The node sends it
// inside the conversation's encrypted session (client_sdk/progress.py), so the relay
// sees one more ciphertext and never what it says; fewer of them leave less to time:
// - while keys are pressed in the reply box: "writing", at most once every EVERY_MS;
// - IDLE_MS after the last key, or when the box is emptied, or another conversation
//   is opened: "stopped" (once, only if "writing" was said);
// - on sending: nothing more (the message itself takes the participant's line away).
// The node also allows at most one "writing" every few seconds per conversation.

import { ctx, isMine } from "./shared.js";

export const EVERY_MS = 3000;
export const IDLE_MS = 5000;

let current = null; // the conversation told "writing", or null
let lastSent = 0;
let idleTimer = null;

function tell(cid, active) {
  ctx.link?.request("typing", { conversation_id: cid, active });
}

/** The worker stopped writing in the conversation told "writing" (if any). */
export function typingStopped({ sent = false } = {}) {
  clearTimeout(idleTimer);
  idleTimer = null;
  if (current !== null && !sent) tell(current, false);
  current = null;
  lastSent = 0;
}

/** A change in the reply box of conversation `cid` (`empty`: nothing is left in it). */
export function replyChanged(cid, empty) {
  if (current !== null && current !== cid) typingStopped();
  if (!cid || !isMine(cid)) return;
  if (empty) {
    typingStopped();
    return;
  }
  const now = Date.now();
  if (current !== cid || now - lastSent >= EVERY_MS) {
    current = cid;
    lastSent = now;
    tell(cid, true);
  }
  clearTimeout(idleTimer);
  idleTimer = setTimeout(() => typingStopped(), IDLE_MS);
}
