// Quietline protocol v1 in the browser (WebCrypto only). Public API, draft; see bottom.
export * from "./errors.js";
export * from "./encoding.js";
export * from "./primitives.js";
export * from "./hpke.js";
