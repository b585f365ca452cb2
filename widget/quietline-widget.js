// Quietline participant widget: entry module.
//
// The program's page holds a container made by `quietline widget snippet`:
//   <section data-quietline data-relay data-program-id data-identity-key data-exit-url>
//     <div data-quietline-fallback> other ways to reach the program </div>
//   </section>
// The fallback stays readable if this code never runs (no JavaScript, a changed file
// refused by Subresource Integrity). When it runs, the widget takes over the container.
//
// No third-party code, no framework, no storage of any kind, no request except to the
// relay named in the container (the page's CSP enforces the same).

import { WidgetApp } from "./ui/app.js";

const B64U = /^[A-Za-z0-9_-]+$/;

function readConfig(root) {
  const relay = root.dataset.relay ?? "";
  const programId = root.dataset.programId ?? "";
  const identityKey = root.dataset.identityKey ?? "";
  let relayUrl;
  try {
    relayUrl = new URL(relay);
  } catch {
    return null;
  }
  if (relayUrl.protocol !== "https:" && relayUrl.protocol !== "http:") return null;
  if (!B64U.test(programId) || !B64U.test(identityKey)) return null;
  // How long to keep reconnecting through a dead spot: the snippet's setting, never
  // under two minutes.
  const seconds = Number.parseInt(root.dataset.reconnectSeconds ?? "", 10);
  return {
    relay: relayUrl.origin,
    programId,
    identityKey,
    exitUrl: root.dataset.exitUrl ?? "",
    reconnectMs: Math.max(Number.isFinite(seconds) ? seconds : 120, 120) * 1000,
  };
}

export function mountAll(doc = document) {
  const apps = [];
  for (const root of doc.querySelectorAll("[data-quietline]")) {
    if (root.classList.contains("quietline-ready")) continue;
    const config = readConfig(root);
    if (!config) continue; // leave the fallback text in place
    const app = new WidgetApp(root, config);
    app.mount();
    apps.push(app);
  }
  return apps;
}

mountAll();
