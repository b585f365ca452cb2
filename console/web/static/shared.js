// What the shift screen's modules share: the page's elements, the state the node last
// sent (in memory only, never in browser storage), and the live link.

export const $ = (id) => document.getElementById(id);
export const supervisor = $("others-list") !== null;
export const ctx = { link: null };

export const state = {
  me: null, line: null, waiting: [], mine: [], others: [], alerts: [], colleagues: [],
  savedReplies: [], aliases: [], idleMinutes: 30, first: true,
  open: null, timelines: new Map(), unread: new Map(), drafts: new Map(), codeWords: new Map(),
  lastActivity: Date.now(), lastTouch: 0,
};

export function announce(text) {
  const region = $("announce");
  region.textContent = "";
  setTimeout(() => { region.textContent = text; }, 50);
}

export function find(cid) {
  return state.mine.find((s) => s.id === cid) || state.others.find((s) => s.id === cid)
    || state.waiting.find((s) => s.id === cid) || null;
}

export function isMine(cid) {
  return state.mine.some((s) => s.id === cid);
}
