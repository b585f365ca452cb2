// Admin page: staff accounts (list, add, change role, reset password, disable, enable).
// Passwords go to the node once and are never shown or kept in the page.

import { announce, api } from "/static/admin.js";
import { el } from "/static/view.js";

const ROLES = [["worker", "Support worker"], ["supervisor", "Supervisor"], ["admin", "Admin"]];
const $ = (id) => document.getElementById(id);

async function run(op, args, done) {
  try {
    const result = await api(op, args);
    announce(done(result));
    await load();
    return true;
  } catch (error) {
    announce(error.message, { error: true });
    return false;
  }
}

function row(person) {
  const roleId = `role-${person.staff_id}`;
  const select = el("select", { id: roleId, "aria-label": `Role of ${person.name}` },
    ...ROLES.map(([value, words]) => el("option", { value, text: words, selected: value === person.role })));
  const state = person.disabled ? "Disabled" : person.on_shift ? "On shift" : "Can sign in";
  const toggle = person.disabled
    ? el("button", { type: "button", class: "button button-small button-secondary",
        "aria-label": `Enable ${person.name}`,
        onclick: () => run("staff.enable", { name: person.name }, (r) => `${r.name} can sign in again.`) }, "Enable")
    : el("button", { type: "button", class: "button button-small button-warning",
        "aria-label": `Disable ${person.name}`,
        onclick: () => run("staff.disable", { name: person.name },
          (r) => `${r.name} is disabled: signed out everywhere, their conversations handed on.`) }, "Disable");
  return el("tr", {},
    el("th", { scope: "row", dir: "auto", text: person.name }),
    el("td", {}, select, " ",
      el("button", { type: "button", class: "button button-small button-secondary",
        "aria-label": `Change the role of ${person.name}`,
        onclick: () => run("staff.role", { name: person.name, role: select.value },
          (r) => `${r.name} is now ${r.role_words}.`) }, "Change role")),
    el("td", { text: state }),
    el("td", {}, toggle));
}

async function load() {
  let people;
  try {
    people = await api("staff.list");
  } catch (error) {
    announce(error.message, { error: true });
    return;
  }
  $("staff-rows").replaceChildren(...people.map(row));
  const chosen = $("passwd-name").value;
  $("passwd-name").replaceChildren(...people.map((p) => el("option", { value: p.name, text: p.name })));
  if (chosen) $("passwd-name").value = chosen;
}

$("staff-add").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const args = { name: $("add-name").value, role: $("add-role").value, password: $("add-password").value };
  $("add-password").value = "";
  if (await run("staff.add", args, (r) => `Added ${r.name} as ${r.role_words}.`)) form.reset();
});

$("staff-passwd").addEventListener("submit", async (event) => {
  event.preventDefault();
  const args = { name: $("passwd-name").value, password: $("passwd-password").value };
  $("passwd-password").value = "";
  await run("staff.passwd", args, (r) => `The password of ${r.name} is changed.`);
});

load();
