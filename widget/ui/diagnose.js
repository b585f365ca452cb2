// For the page's admin only: why the widget cannot reach the relay, in the browser
// console (console.error). The participant never sees any of this; they see the
// unavailable screen with the other ways to reach the program.
//
// A browser hides the reason of a failed cross-origin request from the page, so the
// reason is found the way an admin would find it:
// - the page's own Content-Security-Policy refused the connection: the browser fires
//   `securitypolicyviolation` for it (watched from mount on, for the relay only);
// - the relay answered but not to this origin (CORS): a second, opaque request
//   (`mode: "no-cors"`, no credentials, no referrer, to the relay only) gets through,
//   so the relay is up and does not list this page's origin;
// - else the relay did not answer at all.
// An integrity (SRI) mismatch never gets here: the browser refuses to run the widget
// and says so in the console itself.

const violations = new Set();

/** Start noting CSP refusals of connections to `relay` (call once, at mount). */
export function watchPolicy(relay) {
  const origin = String(relay ?? "").replace(/\/+$/, "");
  if (!/^https?:\/\/./.test(origin)) return;
  const ws = origin.replace(/^http/, "ws");
  document.addEventListener("securitypolicyviolation", (event) => {
    const blocked = String(event.blockedURI || "");
    if (blocked.startsWith(origin) || blocked.startsWith(ws)) violations.add(event.effectiveDirective);
  });
}

/** The reason, as a code: "csp_connect_src", "origin_not_registered" or "relay_unreachable". */
export async function unreachableReason(relay) {
  const origin = relay.replace(/\/+$/, "");
  // The violation event is queued as a task of its own, after the fetch failed: let it in.
  await new Promise((resolve) => { setTimeout(resolve, 100); });
  if (violations.size > 0) return "csp_connect_src";
  try {
    await fetch(`${origin}/v1/health`, {
      // (no-cors requires redirect "follow"; the page's CSP still limits where it may go)
      mode: "no-cors", credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer",
    });
  } catch {
    return violations.size > 0 ? "csp_connect_src" : "relay_unreachable";
  }
  return "origin_not_registered";
}

const ADVICE = {
  csp_connect_src: (relay) =>
    `this page's Content-Security-Policy does not allow connecting to the relay ${relay}: ` +
    `add "${relay}" and its wss:/ws: form to connect-src (see the headers "quietline widget snippet" prints).`,
  origin_not_registered: (relay, programId) =>
    `the relay ${relay} does not admit this page's origin (${location.origin}) for program ` +
    `${programId} (forbidden_origin): add it with "quietline program origins add ${location.origin}" ` +
    "or on the console's Website page (or the snippet names a program this relay does not know: " +
    "paste it again as \"quietline widget snippet\" prints it).",
  relay_unreachable: (relay) => `the relay ${relay} did not answer. Is it running and reachable from here?`,
};

/** Tell the page's admin, in the browser console, why the relay cannot be reached. */
export async function reportUnreachable(config, error) {
  let reason = "relay_unreachable";
  if (error?.code === "forbidden_origin") reason = "origin_not_registered";
  else if (error?.code === "unavailable") reason = await unreachableReason(config.relay);
  else if (error?.code) {
    console.error(`Quietline widget: the relay ${config.relay} refused the request (${error.code}).`);
    return reason;
  }
  console.error(`Quietline widget [${reason}]: ${ADVICE[reason](config.relay, config.programId)} ` +
    "Run \"quietline widget check <this page's address>\" for a full check.");
  return reason;
}
