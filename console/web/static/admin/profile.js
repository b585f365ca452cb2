// The profile page: a form for every field, a live preview drawn by the widget's own
// screens (served from /widget/, no request to the relay), save = sign and publish.

import { api, announce } from "../admin.js";
import { noticeScreen, questionsScreen, startScreen, unavailableScreen } from "/widget/ui/screens.js";
import { parseHours } from "/widget/ui/hours.js";

const form = document.getElementById("profile-form");
const DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
let counter = 0;
let previewScreen = "start";

function field(labelText, attrs, value) {
  counter += 1;
  const id = `f-${counter}`;
  const wrap = document.createElement("span");
  wrap.className = "profile-field";
  const label = document.createElement("label");
  label.htmlFor = id;
  label.textContent = labelText;
  const input = document.createElement(attrs.tag ?? "input");
  input.id = id;
  input.className = "input";
  for (const [k, v] of Object.entries(attrs)) if (k !== "tag") input.setAttribute(k, v);
  if (input.tagName === "SELECT") {
    DAYS.forEach((d, i) => input.append(new Option(d, String(i))));
  }
  input.value = value ?? "";
  wrap.append(label, input);
  return wrap;
}

function row(container, parts, what) {
  const item = document.createElement("div");
  item.className = "profile-row";
  item.setAttribute("role", "group");
  const n = container.children.length + 1;
  item.setAttribute("aria-label", `${what} ${n}`);
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "button button-secondary";
  remove.textContent = `Remove ${what.toLowerCase()} ${n}`;
  remove.addEventListener("click", () => {
    item.remove();
    announce(`${what} removed. Save to publish the change.`);
    renderPreview();
  });
  item.append(...parts, remove);
  container.append(item);
  return item;
}

function addQuestion(q = {}) {
  row(document.getElementById("p-questions"), [
    field("Short id (letters, digits)", { "data-key": "id", maxlength: "64" }, q.id),
    field("Question", { "data-key": "text" }, q.text),
    field("Why we ask it", { "data-key": "why" }, q.why),
  ], "Question");
}

function addHours(p = { day: 0, open: "09:00", close: "17:00" }) {
  row(document.getElementById("p-hours"), [
    field("Day", { tag: "select", "data-key": "day" }, String(p.day)),
    field("Opens (HH:MM)", { "data-key": "open", maxlength: "5", inputmode: "numeric" }, p.open),
    field("Closes (HH:MM)", { "data-key": "close", maxlength: "5", inputmode: "numeric" }, p.close),
  ], "Opening hours");
}

function addClosure(c = {}) {
  row(document.getElementById("p-closures"), [
    field("Date", { type: "date", "data-key": "date" }, c.date),
    field("What it is (shown to participants, optional)", { "data-key": "label", maxlength: "200" }, c.label),
  ], "Closed day");
}

function addAlternative(a = {}) {
  row(document.getElementById("p-alternatives"), [
    field("How (e.g. Phone, 24 hours)", { "data-key": "label" }, a.label),
    field("Number, address or where", { "data-key": "value" }, a.value),
  ], "Other way");
}

function rows(id) {
  return [...document.getElementById(id).children].map((item) => {
    const out = {};
    for (const input of item.querySelectorAll("[data-key]")) {
      out[input.dataset.key] = input.dataset.key === "day" ? Number(input.value) : input.value.trim();
    }
    return out;
  });
}

function value(name) {
  return form.elements.namedItem(name).value.trim();
}

function hoursContent() {
  const hours = { timezone: value("hours.timezone"), weekly: rows("p-hours") };
  const closures = rows("p-closures");
  if (closures.length > 0) hours.closures = closures;
  return hours;
}

function content() {
  const notice = {};
  const optional = new Set(["more_url", "more_text"]);
  for (const key of ["voluntary", "choices", "information", "mandatory_reporting", "more_url", "more_text"]) {
    const text = value(`notice.${key}`);
    if (text || !optional.has(key)) notice[key] = text;
  }
  const language = value("language");
  return {
    ...(language ? { language } : {}),
    name: value("name"),
    notice,
    safety_check_in: value("safety_check_in"),
    questions: rows("p-questions"),
    hours: hoursContent(),
    alternatives: rows("p-alternatives"),
    quick_exit_url: value("quick_exit_url"),
  };
}

function fill(c) {
  form.elements.namedItem("name").value = c.name;
  form.elements.namedItem("language").value = c.language ?? "";
  for (const key of ["more_url", "more_text"]) form.elements.namedItem(`notice.${key}`).value = "";
  for (const [key, text] of Object.entries(c.notice)) {
    const input = form.elements.namedItem(`notice.${key}`);
    if (input) input.value = text;
  }
  form.elements.namedItem("safety_check_in").value = c.safety_check_in;
  form.elements.namedItem("hours.timezone").value = c.hours.timezone;
  form.elements.namedItem("quick_exit_url").value = c.quick_exit_url;
  for (const id of ["p-questions", "p-hours", "p-closures", "p-alternatives"]) {
    document.getElementById(id).replaceChildren();
  }
  c.questions.forEach(addQuestion);
  c.hours.weekly.forEach(addHours);
  (c.hours.closures ?? []).forEach(addClosure);
  c.alternatives.forEach(addAlternative);
}

function renderPreview() {
  const body = document.getElementById("preview-body");
  const c = content();
  let hours = null;
  try {
    hours = parseHours(c.hours);
  } catch {
    hours = null; // the widget shows no hours it cannot read; saving names the problem
  }
  const verified = { profile: c, hours, status: { state: previewScreen === "closed" ? "closed" : "open", message: "" } };
  const noop = () => {};
  let screen;
  if (previewScreen === "notice") screen = noticeScreen(c, noop);
  else if (previewScreen === "questions") screen = questionsScreen(c.questions, noop);
  else if (previewScreen === "closed") screen = unavailableScreen("outside_hours", verified, [], null);
  else screen = startScreen(verified, noop);
  body.replaceChildren(screen);
  document.getElementById("preview").dataset.previewScreen = previewScreen;
}

async function loadHistory() {
  const list = document.getElementById("profile-history");
  const history = await api("profile.history");
  list.replaceChildren(...history.map((entry, i) => {
    const li = document.createElement("li");
    const when = entry.saved_at ? new Date(entry.saved_at * 1000).toLocaleString() : "at setup";
    li.append(`Version ${entry.version}, ${when} (${entry.note}): ${entry.content.name} `);
    if (i > 0) {
      const restore = document.createElement("button");
      restore.type = "button";
      restore.className = "button button-secondary";
      restore.textContent = `Restore version ${entry.version}`;
      restore.addEventListener("click", async () => {
        try {
          const done = await api("profile.restore", { version: entry.version });
          announce(`Version ${entry.version} is published again, as version ${done.version}.`);
          await load();
        } catch (error) {
          announce(error.message, { error: true });
        }
      });
      li.append(restore);
    } else {
      li.append("(published now)");
    }
    return li;
  }));
}

async function load() {
  const shown = await api("profile.show");
  fill(shown.content);
  renderPreview();
  await loadHistory();
}

form.addEventListener("input", renderPreview);
form.addEventListener("change", renderPreview);
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    const saved = await api("profile.set", { content: content() });
    announce(`Saved and published as version ${saved.version}. Participants see it now.`);
    await loadHistory();
  } catch (error) {
    announce(error.message, { error: true });
  }
});
document.getElementById("add-question").addEventListener("click", () => { addQuestion(); renderPreview(); });
document.getElementById("add-hours").addEventListener("click", () => { addHours(); renderPreview(); });
document.getElementById("add-closure").addEventListener("click", () => { addClosure(); renderPreview(); });
document.getElementById("add-alternative").addEventListener("click", () => { addAlternative(); renderPreview(); });
for (const b of document.querySelectorAll("[data-preview]")) {
  b.addEventListener("click", () => {
    previewScreen = b.dataset.preview;
    for (const other of document.querySelectorAll("[data-preview]")) {
      other.setAttribute("aria-pressed", String(other === b));
    }
    renderPreview();
  });
}
try {
  const zones = document.getElementById("timezones");
  for (const zone of Intl.supportedValuesOf("timeZone")) zones.append(new Option(zone));
} catch {
  // an older browser: the field takes any IANA name typed
}
load().catch((error) => announce(error.message, { error: true }));
