// A confirmation as a modal <dialog>: it starts on the safe answer; Escape cancels.

import { $ } from "./shared.js";

export function confirmDialog({ title, text, yes, no }) {
  const dialog = $("confirm");
  $("confirm-heading").textContent = title;
  $("confirm-text").textContent = text;
  $("confirm-yes").textContent = yes;
  $("confirm-no").textContent = no;
  return new Promise((resolve) => {
    const finish = (value) => {
      $("confirm-yes").onclick = null;
      $("confirm-no").onclick = null;
      dialog.oncancel = null;
      dialog.close();
      resolve(value);
    };
    $("confirm-yes").onclick = () => finish(true);
    $("confirm-no").onclick = () => finish(false);
    dialog.oncancel = (event) => { event.preventDefault(); finish(false); };
    dialog.showModal();
    $("confirm-no").focus();
  });
}
