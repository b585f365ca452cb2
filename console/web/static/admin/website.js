// The website page: the origins the relay admits for this program, and a page check.

import { api, announce } from "../admin.js";

function text(tag, value, cls) {
  const node = document.createElement(tag);
  node.textContent = value;
  if (cls) node.className = cls;
  return node;
}

function showOrigins(origins) {
  const list = document.getElementById("origins");
  if (origins.length === 0) {
    list.replaceChildren(text("li", "No website yet: the chat cannot be shown anywhere.", "muted"));
    return;
  }
  list.replaceChildren(...origins.map((origin) => {
    const li = text("li", `${origin} `);
    const remove = text("button", `Remove ${origin}`, "button button-secondary");
    remove.type = "button";
    remove.addEventListener("click", async () => {
      try {
        showOrigins(await api("origins.remove", { origin }));
        announce(`${origin} can no longer show the chat.`);
      } catch (error) {
        announce(error.message, { error: true });
      }
    });
    li.append(remove);
    return li;
  }));
}

document.getElementById("origin-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = document.getElementById("origin-input");
  try {
    showOrigins(await api("origins.add", { origin: input.value }));
    announce(`${input.value.trim()} can show the chat now.`);
    input.value = "";
  } catch (error) {
    announce(error.message, { error: true });
    input.focus();
  }
});

document.getElementById("check-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const out = document.getElementById("check-result");
  const url = document.getElementById("check-input").value;
  out.replaceChildren(text("p", "Checking…"));
  try {
    const result = await api("widget.check", { url });
    const heading = result.ok
      ? text("p", `${result.url}: the page can reach the relay.`, "check-ok")
      : text("p", `${result.url}: the page cannot reach the relay.`, "check-problem");
    const list = document.createElement("ul");
    list.className = "list";
    for (const p of result.problems) {
      const li = text("li", p.message);
      li.dataset.code = p.code;
      list.append(li);
    }
    out.replaceChildren(heading, list);
    announce(result.ok ? "The page can reach the relay." : `The check found ${result.problems.length} problem(s).`,
      { error: !result.ok });
  } catch (error) {
    out.replaceChildren();
    announce(error.message, { error: true });
  }
});

api("origins.list").then(showOrigins).catch((error) => announce(error.message, { error: true }));
