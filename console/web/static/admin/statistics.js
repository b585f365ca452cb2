// Statistics page: charts drawn as SVG by this module, each with a table of the same
// figures beside it (caption, row and column headers), a period chooser, a CSV download
// made in the browser from the operation's text, and (admins) the small-count threshold.
// Small counts arrive from the node already as "fewer than N": the page never sees them.
// Every text is set with textContent; nothing is stored in the browser.

import { api, announce } from "../admin.js";

const SVG = "http://www.w3.org/2000/svg";
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const SHORT_DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
let uid = 0;

function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child);
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== null) node.textContent = text;
  return node;
}

function chartFrame(title, width, height) {
  const id = `stats-chart-${++uid}`;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": id,
    class: "stats-chart", focusable: "false",
  });
  root.append(svg("title", { id }, `${title}: chart. The table beside it gives the same figures.`));
  return root;
}

// Horizontal bars, the label above each bar; a suppressed count is an outline, no length.
function barChart(metric, threshold) {
  const rows = metric.rows;
  const max = Math.max(threshold, ...rows.map((r) => r.count ?? 0));
  const width = 520;
  const barArea = 380;
  const rowHeight = 40;
  const root = chartFrame(metric.title, width, rows.length * rowHeight + 8);
  rows.forEach((row, i) => {
    const y = i * rowHeight + 4;
    root.append(svg("text", { x: 0, y: y + 13, class: "stats-chart-label" }, row.label));
    if (row.suppressed) {
      const w = Math.max(4, (barArea * (threshold - 1)) / max);
      root.append(svg("rect", { x: 0, y: y + 18, width: w, height: 14, class: "stats-bar-few" }));
      root.append(svg("text", { x: w + 6, y: y + 30, class: "stats-chart-value" }, row.text));
    } else {
      const w = row.count > 0 ? Math.max(2, (barArea * row.count) / max) : 0;
      root.append(svg("rect", { x: 0, y: y + 18, width: w, height: 14, class: "stats-bar" }));
      root.append(svg("text", { x: w + 6, y: y + 30, class: "stats-chart-value" }, row.text));
    }
  });
  return root;
}

// Hour of the week: a grid of 7 days by 24 hours, darker for more.
function weekChart(metric) {
  const cell = 20;
  const left = 40;
  const top = 18;
  const root = chartFrame(metric.title, left + 24 * cell + 4, top + 7 * cell + 4);
  const max = Math.max(1, ...metric.rows.map((r) => r.count ?? 0));
  for (let h = 0; h < 24; h += 3) {
    root.append(svg("text", { x: left + h * cell, y: 12, class: "stats-chart-label" }, String(h).padStart(2, "0")));
  }
  for (const row of metric.rows) {
    const [day, hour] = row.bucket.split("/").map(Number);
    if (hour === 0) {
      root.append(svg("text", { x: 0, y: top + day * cell + 14, class: "stats-chart-label" }, SHORT_DAYS[day]));
    }
    let level = "stats-heat-0";
    if (row.suppressed) level = "stats-heat-few";
    else if (row.count > 0) level = `stats-heat-${Math.min(4, 1 + Math.floor((3 * row.count) / max))}`;
    root.append(svg("rect", {
      x: left + hour * cell, y: top + day * cell, width: cell - 2, height: cell - 2, class: level,
    }));
  }
  return root;
}

function listTable(metric, period) {
  const body = metric.rows.map((row) => el("tr", {}, [
    el("th", { scope: "row", text: row.label }),
    el("td", { text: row.text, class: row.suppressed ? "stats-few" : "" }),
  ]));
  return el("table", { class: "stats-table" }, [
    el("caption", { text: `${metric.title}, ${period}` }),
    el("thead", {}, [el("tr", {}, [
      el("th", { scope: "col", text: "What" }), el("th", { scope: "col", text: "Count" }),
    ])]),
    el("tbody", {}, body),
  ]);
}

function weekTable(metric, period) {
  const hours = [...Array(24).keys()].map((h) => `${String(h).padStart(2, "0")}:00`);
  const byDay = WEEKDAYS.map(() => []);
  for (const row of metric.rows) {
    const [day] = row.bucket.split("/").map(Number);
    byDay[day].push(row);
  }
  const table = el("table", { class: "stats-table stats-table-week" }, [
    el("caption", { text: `${metric.title}, ${period}` }),
    el("thead", {}, [el("tr", {}, [
      el("th", { scope: "col", text: "Day" }),
      ...hours.map((h) => el("th", { scope: "col", text: h })),
    ])]),
    el("tbody", {}, byDay.map((rows, d) => el("tr", {}, [
      el("th", { scope: "row", text: WEEKDAYS[d] }),
      ...rows.map((r) => el("td", { text: r.text, class: r.suppressed ? "stats-few" : "" })),
    ]))),
  ]);
  // a wide table scrolls; the region takes the keyboard focus so it can be scrolled
  return el("div", {
    class: "stats-scroll", tabindex: "0", role: "region", "aria-label": `${metric.title} (table)`,
  }, [table]);
}

function render(data) {
  const period = data.from === data.to ? data.from : `${data.from} to ${data.to}`;
  document.getElementById("stats-summary").textContent =
    `${period} (${data.days} day${data.days === 1 ? "" : "s"}, time zone ${data.timezone}). `
    + `Counts below ${data.threshold} show as “fewer than ${data.threshold}”.`;
  const charts = document.getElementById("stats-charts");
  charts.replaceChildren(...data.metrics.map((metric) => {
    const week = metric.kind === "week";
    const headingId = `stats-h-${++uid}`;
    return el("section", { class: "stats-metric", "aria-labelledby": headingId, "data-metric": metric.metric }, [
      el("h3", { id: headingId, text: metric.title }),
      el("div", { class: week ? "stats-pair stats-pair-wide" : "stats-pair" }, [
        el("figure", { class: "stats-figure" }, [week ? weekChart(metric) : barChart(metric, data.threshold)]),
        week ? weekTable(metric, period) : listTable(metric, period),
      ]),
    ]);
  }));
}

const form = document.getElementById("stats-period");
const range = document.getElementById("stats-range");
const first = document.getElementById("stats-from");
const last = document.getElementById("stats-to");

function periodArgs() {
  for (const field of [first, last]) field.removeAttribute("aria-invalid");
  if (range.value !== "custom") return { days: Number(range.value) };
  const missing = [first, last].filter((f) => !f.value);
  if (missing.length) {
    for (const f of missing) f.setAttribute("aria-invalid", "true");
    missing[0].focus();
    throw new Error("Choose the first and the last day.");
  }
  return { from: first.value, to: last.value };
}

async function show({ quiet = false } = {}) {
  try {
    const data = await api("stats.show", periodArgs());
    render(data);
    if (!quiet) announce(`Showing the figures for ${data.from} to ${data.to}.`);
  } catch (error) {
    announce(error.message, { error: true });
  }
}

range.addEventListener("change", () => {
  const custom = range.value === "custom";
  first.disabled = !custom;
  last.disabled = !custom;
  if (custom && !first.value) {
    const today = new Date().toISOString().slice(0, 10);
    first.value = today;
    last.value = today;
  }
});

form.addEventListener("submit", (event) => {
  event.preventDefault();
  show();
});

document.getElementById("stats-csv").addEventListener("click", async () => {
  try {
    const { filename, csv } = await api("stats.csv", periodArgs());
    const url = URL.createObjectURL(new Blob([csv], { type: "text/csv;charset=utf-8" }));
    const link = el("a", { href: url, download: filename, hidden: "" });
    document.body.append(link);
    link.click();
    link.remove();
    window.setTimeout(() => URL.revokeObjectURL(url), 1000);
    announce(`Downloading ${filename}.`);
  } catch (error) {
    announce(error.message, { error: true });
  }
});

// Admins: one box per optional question, the answers counted by name (one per line).
function answerFields(settings) {
  const holder = document.getElementById("stats-answers-fields");
  if (!holder) return;
  const questions = Object.entries(settings.questions);
  if (questions.length === 0) {
    holder.replaceChildren(el("p", { text: "The profile asks no optional question." }));
    return;
  }
  holder.replaceChildren(...questions.map(([id, text]) => {
    const fieldId = `stats-answers-${++uid}`;
    const box = el("textarea", { id: fieldId, rows: "4", "data-question": id, dir: "auto" });
    box.value = (settings.answers[id] ?? []).join("\n");
    return el("div", { class: "stats-answer-field" }, [
      el("label", { for: fieldId, text: `Answers to count for “${text}” (one per line)` }), box,
    ]);
  }));
}

const answersForm = document.getElementById("stats-answers");
if (answersForm) {
  answersForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const answers = {};
    for (const box of answersForm.querySelectorAll("textarea[data-question]")) {
      box.removeAttribute("aria-invalid");
      answers[box.dataset.question] = box.value.split("\n").map((l) => l.trim()).filter(Boolean);
    }
    try {
      await api("stats.settings", { answers });
      await show({ quiet: true });
      announce("Saved the answers to count. Answers from now on are counted this way.");
    } catch (error) {
      for (const box of answersForm.querySelectorAll("textarea[data-question]")) {
        box.setAttribute("aria-invalid", "true");
      }
      announce(error.message, { error: true });
    }
  });
}

const thresholdForm = document.getElementById("stats-threshold");
if (thresholdForm) {
  const input = document.getElementById("stats-threshold-value");
  api("stats.settings").then((s) => {
    input.value = String(s.threshold);
    answerFields(s);
  }).catch(() => {});
  thresholdForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = Number(input.value);
    if (!Number.isInteger(value) || input.value.trim() === "") {
      input.setAttribute("aria-invalid", "true");
      announce("The threshold is a whole number from 2 to 100.", { error: true });
      input.focus();
      return;
    }
    try {
      const saved = await api("stats.settings", { threshold: value });
      input.removeAttribute("aria-invalid");
      await show({ quiet: true });
      announce(`Saved: counts below ${saved.threshold} now show as “fewer than ${saved.threshold}”.`);
    } catch (error) {
      input.setAttribute("aria-invalid", "true");
      announce(error.message, { error: true });
      input.focus();
    }
  });
}

show();
