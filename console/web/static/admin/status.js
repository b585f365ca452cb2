// The status page: force outage or closed with a message, or clear it.

import { api, announce } from "../admin.js";

const WORDS = { open: "Open", busy: "Busy", closed: "Closed", outage: "Outage" };

function show(status) {
  document.getElementById("status-now").textContent = `${WORDS[status.state] ?? status.state}: ${status.message}`;
  document.getElementById("status-now").dataset.state = status.state;
  document.getElementById("status-override").textContent = status.override
    ? `Set by hand (${status.override.state}) until cleared.`
    : "Automatic: follows the posted hours and who is on shift.";
  document.getElementById("status-clear").disabled = !status.override;
}

document.getElementById("status-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const state = form.elements.namedItem("state").value;
  try {
    show(await api("status.set", { state, message: form.elements.namedItem("message").value }));
    announce(`The status is now ${state}, published.`);
  } catch (error) {
    announce(error.message, { error: true });
  }
});

document.getElementById("status-clear").addEventListener("click", async () => {
  try {
    show(await api("status.clear"));
    announce("Cleared: the status follows the posted hours again.");
  } catch (error) {
    announce(error.message, { error: true });
  }
});

api("status.show").then(show).catch((error) => announce(error.message, { error: true }));
