// Admin page: the shift rules, and each staff member's weekly rota with exceptions.

import { announce, api } from "/static/admin.js";
import { el } from "/static/view.js";

const $ = (id) => document.getElementById(id);
const RULES = ["last_minutes", "warn_minutes", "close_minutes", "idle_minutes", "max_conversations"];

async function act(op, args, done) {
  try {
    const result = await api(op, args);
    announce(done(result));
    await load();
  } catch (error) {
    announce(error.message, { error: true });
  }
}

function weekly(entry) {
  return entry.weekly.map((s) => `${s.day} ${s.from}–${s.to}`).join(", ") || "None";
}

function exceptions(entry) {
  return entry.exceptions.map((e) => {
    const parts = e.off ? ["off"] : [];
    for (const s of e.slots) parts.push(`${s.from}–${s.to}`);
    return `${e.date}: ${parts.join(" and ")}`;
  }).join("; ") || "None";
}

function now(entry) {
  if (entry.due) return "Due on shift";
  if (entry.on_shift) return "On shift";
  return entry.slot_now ? "In a rota slot" : "—";
}

async function load() {
  try {
    const rules = await api("rules.show");
    for (const name of RULES) $(`rule-${name}`).value = rules[name];
    $("rule-handoff").checked = rules.handoff;
    const rota = await api("rota.show");
    $("rota-zone").textContent = rota.timezone;
    $("rota-rows").replaceChildren(...rota.staff.map((entry) => el("tr", {},
      el("th", { scope: "row", dir: "auto", text: entry.name }),
      el("td", { text: weekly(entry) }),
      el("td", { text: exceptions(entry) }),
      el("td", { text: now(entry) }))));
    const chosen = $("rota-name").value;
    $("rota-name").replaceChildren(...rota.staff.map((e) => el("option", { value: e.name, text: e.name })));
    if (chosen) $("rota-name").value = chosen;
  } catch (error) {
    announce(error.message, { error: true });
  }
}

$("rules-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const args = { handoff: $("rule-handoff").checked };
  for (const name of RULES) args[name] = Number.parseInt($(`rule-${name}`).value, 10);
  act("rules.set", args, () => "The shift rules are saved and apply now.");
});

$("slot-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const args = { name: $("rota-name").value, day: $("slot-day").value, from: $("slot-from").value, to: $("slot-to").value };
  act("rota.set", args, (entry) => `${entry.name} works ${weekly(entry)}.`);
});

$("slot-clear").addEventListener("click", () => {
  const day = $("slot-day").value;
  act("rota.clear", { name: $("rota-name").value, day }, (entry) => `Cleared ${day} for ${entry.name}.`);
});

$("except-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const args = { name: $("rota-name").value, date: $("except-date").value, off: $("except-off").checked };
  if ($("except-from").value || $("except-to").value) {
    args.from = $("except-from").value;
    args.to = $("except-to").value;
  }
  act("rota.except", args, (entry) => `Saved: ${entry.name}, ${exceptions(entry)}.`);
});

$("except-clear").addEventListener("click", () => {
  act("rota.unexcept", { name: $("rota-name").value, date: $("except-date").value },
    (entry) => `Removed the exception for ${entry.name}.`);
});

load();
