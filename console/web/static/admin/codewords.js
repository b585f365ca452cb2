// Admin page: code words (list, add, rotate, remove). The word is sent once, as a
// secret argument, and never shown or kept in the page.

import { announce, api } from "/static/admin.js";
import { el } from "/static/view.js";

const $ = (id) => document.getElementById(id);
let known = [];

async function remove(row) {
  try {
    await api("codewords.remove", { alias: row.alias });
    announce(`Removed the code word "${row.alias}".`);
    await load();
  } catch (error) {
    announce(error.message, { error: true });
  }
}

function render(rows) {
  known = rows.map((r) => r.alias);
  $("codeword-rows").replaceChildren(...rows.map((row) => el("tr", {},
    el("th", { scope: "row", dir: "auto", text: row.alias }),
    el("td", { text: row.set_on }),
    el("td", { text: row.rotation_due ? "Yes: time to change it" : "No" }),
    el("td", {},
      el("button", { type: "button", class: "button button-small button-secondary",
        "aria-label": `Change the word of "${row.alias}"`,
        onclick: () => { $("codeword-alias").value = row.alias; $("codeword-word").focus(); } }, "Change the word"), " ",
      el("button", { type: "button", class: "button button-small button-warning",
        "aria-label": `Remove "${row.alias}"`, onclick: () => remove(row) }, "Remove")))));
  if (!rows.length) $("codeword-rows").replaceChildren(el("tr", {}, el("td", { colspan: 4, text: "No code words yet." })));
}

async function load() {
  try {
    render(await api("codewords.list"));
  } catch (error) {
    announce(error.message, { error: true });
  }
}

$("codeword-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const alias = $("codeword-alias").value.trim();
  const word = $("codeword-word").value;
  $("codeword-word").value = "";
  const key = alias.normalize("NFKC").toLowerCase().split(/\s+/).filter(Boolean).join(" ");
  const rotate = known.includes(key);
  try {
    const row = await api(rotate ? "codewords.rotate" : "codewords.add", { alias, word });
    announce(rotate ? `The code word "${row.alias}" is changed.` : `Added the code word "${row.alias}".`);
    $("codeword-alias").value = "";
    await load();
  } catch (error) {
    announce(error.message, { error: true });
  }
});

load();
