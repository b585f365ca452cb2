// Admin page: the program's saved replies, grouped (add, edit, remove).
// Texts go in with textContent and dir="auto": any script, right-to-left shown right.

import { announce, api } from "/static/admin.js";
import { el } from "/static/view.js";

const $ = (id) => document.getElementById(id);

function editing(reply) {
  $("reply-id").value = reply ? reply.id : "";
  $("reply-group").value = reply ? reply.group : "";
  $("reply-title").value = reply ? reply.title : "";
  $("reply-text").value = reply ? reply.text : "";
  $("replies-form-heading").textContent = reply ? `Change "${reply.title}"` : "Add a saved reply";
  $("reply-save").textContent = reply ? "Save the change" : "Add";
  $("reply-cancel").hidden = !reply;
  if (reply) $("reply-group").focus();
}

async function remove(reply) {
  try {
    await api("replies.remove", { id: reply.id });
    announce(`Removed "${reply.title}".`);
    if ($("reply-id").value === reply.id) editing(null);
    await load();
  } catch (error) {
    announce(error.message, { error: true });
  }
}

function render(replies) {
  const groups = new Map();
  for (const reply of replies) {
    if (!groups.has(reply.group)) groups.set(reply.group, []);
    groups.get(reply.group).push(reply);
  }
  const parts = [];
  for (const [group, items] of groups) {
    parts.push(el("h4", { class: "saved-group", dir: "auto", text: group }));
    parts.push(el("ul", { class: "admin-replies" }, ...items.map((reply) => el("li", { class: "admin-reply" },
      el("p", { class: "admin-reply-title", dir: "auto", text: reply.title }),
      el("p", { class: "admin-reply-text", dir: "auto", text: reply.text }),
      el("button", { type: "button", class: "button button-small button-secondary",
        "aria-label": `Change "${reply.title}"`, onclick: () => editing(reply) }, "Change"), " ",
      el("button", { type: "button", class: "button button-small button-warning",
        "aria-label": `Remove "${reply.title}"`, onclick: () => remove(reply) }, "Remove")))));
  }
  if (!parts.length) parts.push(el("p", { text: "No saved replies yet." }));
  $("replies-list").replaceChildren(...parts);
  $("reply-groups").replaceChildren(...[...groups.keys()].map((g) => el("option", { value: g })));
}

async function load() {
  try {
    render(await api("replies.list"));
  } catch (error) {
    announce(error.message, { error: true });
  }
}

$("reply-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const id = $("reply-id").value;
  const args = { group: $("reply-group").value, title: $("reply-title").value, text: $("reply-text").value };
  try {
    const reply = await api(id ? "replies.edit" : "replies.add", id ? { id, ...args } : args);
    announce(id ? `Saved the change to "${reply.title}".` : `Added "${reply.title}" to ${reply.group}.`);
    editing(null);
    await load();
  } catch (error) {
    announce(error.message, { error: true });
  }
});
$("reply-cancel").addEventListener("click", () => { editing(null); announce("Change cancelled."); });

load();
