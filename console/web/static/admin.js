// Shared by the admin pages: call an admin operation, say what happened.
// Nothing is stored in the browser; every answer is no-store.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

export class AdminError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

// Run admin operation `op` with `args`; its result, or an AdminError with plain words.
export async function api(op, args = {}) {
  let response;
  try {
    response = await fetch(`/admin/api/${encodeURIComponent(op)}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(args),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new AdminError("Offline", "The console cannot be reached. Check the connection and try again.");
  }
  if (response.status === 401) {
    window.location.assign("/signin?reason=expired");
    throw new AdminError("SignedOut", "You are signed out.");
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new AdminError("Failed", "The console gave an answer it could not read.");
  }
  if (!body.ok) throw new AdminError(body.kind, body.error);
  return body.result;
}

// Say `text` in the page's live region (screen readers hear it; everyone sees it).
export function announce(text, { error = false } = {}) {
  const region = document.getElementById("admin-status");
  if (!region) return;
  region.textContent = "";
  region.classList.toggle("admin-status-error", error);
  // a new text node each time, so the same words are announced again
  window.setTimeout(() => { region.textContent = text; }, 30);
}
