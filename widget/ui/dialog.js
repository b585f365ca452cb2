// A dialog inside the widget, for the rights notice's "more" part.
//
// Why not a link: a page opened from the chat (same tab or new) is outside what Quick
// exit covers and erases, and Back would return to it. Why not an iframe: the page's
// CSP says frame-src 'none'. So the program's own longer text is shown here, in the
// widget's DOM, where Quick exit (button or Shift x3) covers and wipes it with the rest;
// a web address is only shown as text, with advice, never opened.
//
// Accessible: role="dialog", aria-modal, labelled by its heading; focus moves into it,
// Tab stays inside it, Escape or Close closes it and focus returns to the opener. It
// has its own Quick exit, since the modal dialog hides the page's bar from screen
// readers (the bar stays visible above it for pointer users).

import { el, uid } from "./dom.js";
import { TEXT } from "./text.js";

const FOCUSABLE = "button, a[href], input, textarea, select, [tabindex='0']";

/** The program's text as paragraphs: blank lines separate them. */
function paragraphs(text) {
  return String(text)
    .split(/\n\s*\n/)
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part) => el("p", { text: part }));
}

/**
 * Open the dialog over `host` (a node inside the widget's current screen, so that
 * wiping the screen removes it). `text`: the program's longer text or null; `address`:
 * a web address shown as text or null. `onQuickExit`: the widget's quick exit.
 * Returns the dialog's outer node.
 */
export function openInfoDialog(host, { title, text, address, opener, onQuickExit }) {
  const headingId = uid("dialog-heading");
  const close = el("button", { type: "button", class: "quietline-button", text: TEXT.close });
  const exit = el("button", {
    type: "button", class: "quietline-exit quietline-dialog-exit", text: TEXT.quickExit,
    "data-quietline-dialog-exit": true,
  });
  const parts = text ? paragraphs(text) : [];
  if (address) {
    parts.push(
      el("p", { text: text ? TEXT.moreAddressToo : TEXT.moreAddress }),
      el("p", { class: "quietline-address", dir: "ltr", text: address }),
      el("p", { class: "quietline-small", text: TEXT.moreAddressAdvice }),
    );
  }
  const dialog = el("div", {
    class: "quietline-dialog", role: "dialog", "aria-modal": "true",
    "aria-labelledby": headingId, tabindex: "-1",
  }, [
    el("div", { class: "quietline-dialog-top" }, [exit]),
    el("h3", { id: headingId, class: "quietline-dialog-heading", text: title }),
    el("div", { class: "quietline-dialog-body" }, parts),
    el("div", { class: "quietline-dialog-actions" }, [close]),
  ]);
  const backdrop = el("div", { class: "quietline-dialog-backdrop", "data-quietline-dialog": true }, [dialog]);

  const shut = () => {
    backdrop.remove();
    opener?.focus();
  };
  close.addEventListener("click", shut);
  exit.addEventListener("click", () => onQuickExit());
  backdrop.addEventListener("click", (event) => {
    if (event.target === backdrop) shut();
  });
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      shut();
      return;
    }
    if (event.key !== "Tab") return;
    const items = [...dialog.querySelectorAll(FOCUSABLE)].filter((n) => !n.disabled);
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    if (event.shiftKey && (active === first || active === dialog)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && active === last) {
      event.preventDefault();
      first.focus();
    }
  });
  host.append(backdrop);
  dialog.focus();
  return backdrop;
}
