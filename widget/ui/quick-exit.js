// Quick exit: cover the page at once, forget everything, then leave with
// location.replace so that Back does not return to the chat.
//
// Triggered by the always-visible button or by Shift pressed three times in a row
// (each press within SHIFT_GAP_MS of the previous one, no other key between).

export const SHIFT_GAP_MS = 800;

/** The exit target as an absolute http(s) URL, or null if it is anything else. */
export function safeExitUrl(candidate, base) {
  if (typeof candidate !== "string" || candidate === "") return null;
  try {
    const url = new URL(candidate, base);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** Put an opaque, empty layer over the whole page, synchronously. */
export function coverPage() {
  const cover = document.createElement("div");
  cover.className = "quietline-cover";
  cover.setAttribute("aria-hidden", "true");
  (document.body ?? document.documentElement).append(cover);
  document.documentElement.classList.add("quietline-exiting");
  document.title = "\u200b";
  return cover;
}

/**
 * Cover, wipe, leave. `wipe` runs synchronously after the cover is up; it must not throw
 * the exit off course, so its errors are swallowed.
 */
export function quickExit(target, wipe) {
  coverPage();
  try {
    wipe();
  } catch {
    // Leaving matters more than a tidy wipe.
  }
  window.location.replace(target);
}

/** Call `trigger` when Shift is pressed three times in a row. Returns a remover. */
export function watchTripleShift(trigger) {
  let presses = [];
  const onKey = (event) => {
    if (event.key !== "Shift") {
      presses = [];
      return;
    }
    if (event.repeat) return;
    const now = event.timeStamp;
    if (presses.length && now - presses[presses.length - 1] > SHIFT_GAP_MS) presses = [];
    presses.push(now);
    if (presses.length >= 3) {
      presses = [];
      trigger();
    }
  };
  window.addEventListener("keydown", onKey, true);
  return () => window.removeEventListener("keydown", onKey, true);
}
