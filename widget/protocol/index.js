// Quietline protocol v1 in the browser: WebCrypto only, no third-party code, no build step.
// The byte-level spec is docs/protocol.md; e2ee/ (Python) is the reference, and
// tests/widget/test_protocol_*.py prove these modules reproduce its vectors in Chromium.
//
// Public API (everything else is internal detail of the modules below):
//
// Bytes are Uint8Array everywhere. Times in signed objects are Unix SECONDS; payload
// `ts` is Unix MILLISECONDS. `random` options are functions n -> Uint8Array (default:
// crypto.getRandomValues); tests inject fixed bytes to reproduce vectors.
//
// Trust (identity.js)
//   verifyProgram(record, {identityKey, programId?, now?})
//       -> {programId, identityKey, profile, status|null}
//       record = JSON of GET /v1/programs/{pid}; keys as Uint8Array or b64u text.
//   verifyBundle(bundle, {identityKey, programId?, now?})       (or (bundle, pinnedKey, {now}))
//       -> {programId, identityKey, signedPrekey, oneTimePrekey|null, prekey, prekeyKind,
//           profile, status|null}
//       bundle = JSON of POST /v1/programs/{pid}/bundle. `now` defaults to the browser
//       clock; passing milliseconds is refused (LocalProtocolError). An expired status
//       comes back as null (unknown). Raises UntrustedKey (not the pinned key, or a
//       programId that does not belong to it), VerificationError, InvalidSignature,
//       Expired, InvalidKey, MalformedInput.
//   profile: {v, name, notice: {voluntary, choices, information, mandatory_reporting,
//             more_url|null, more_text|null}, safety_check_in, questions: [{id, text, why}],
//             hours: {timezone, weekly: [{day (0=Monday), open, close}],
//                     closures: [{date "YYYY-MM-DD", label}] (empty when none)},
//             alternatives: [{label, value}], quick_exit_url, issued_at, language|null}
//   status:  {v, state: "open"|"closed"|"busy"|"outage", message, issued_at, expires_at}
//   programIdFor(identityKey) -> 16 bytes;  fingerprint(identityKey) -> "3F2A 91C0 ..."
//   signedMessage, verifySignature, parseSignedObject, parsePrekeyBody, parseProfile,
//   parseStatus, verifyPrekey, verifyProfile, verifyStatus (lower level).
//
// Conversation (session.js)
//   startConversation(verifiedBundle, firstPayload?, {random?, maxSkip?, maxStoredSkipped?})
//       -> {session, envelope: Uint8Array|null, conversationId: Uint8Array}
//       envelope is the init envelope carrying firstPayload (send it with
//       POST /v1/conversations as b64uEncode(envelope)).
//   session.encrypt(payload) -> Promise<Uint8Array>        envelope bytes for the program
//   session.decrypt(envelopeBytes) -> Promise<{payload, missing, skipped: [{n}], late,
//       discarded: [{n}]}>   `missing` = messages that should have come before this one and
//       have not (yet): show "a message may be missing" when > 0. On ANY error the session
//       is unchanged (a forged or tampered envelope cannot break the conversation).
//   session.describe() -> {ns, nr, pn, skipped, canSend};  session.conversationId;
//   session.closed (true after drop)
//   session.drop()     forget every key now; later calls raise LocalProtocolError.
//   Calls on one session are serialised internally (safe to call concurrently).
//   acceptConversation(initEnvelope, programId, prekeySecret, opts) -> program side (tests).
//
// Payloads (payload.js): plain objects {t, ...}, ts in ms, e.g.
//   {t:"text", body, ts}  {t:"notice", kind, body, ts}  {t:"system", event, ts}
//   {t:"code_word_request", alias, ts}  {t:"code_word_answer", alias, word, ts}
//   {t:"duress", ts}  {t:"answers", answers: {questionId: string}, ts}
//   {t:"invite", slot, role, identity_key: bytes, prekey, invite, ts}
//   {t:"consent", slot, accept, ts}  {t:"close", reason, ts}
//   NOTICE_KINDS, encodePayload, decodePayload, makePayload.
//
// Errors (errors.js), one tree mirroring e2ee/errors.py; test with instanceof:
//   QuietlineError > LocalProtocolError > SequenceOverflow
//                  > RemoteProtocolError > MalformedInput > OversizedInput
//                                        > InvalidKey
//                                        > VerificationError > InvalidSignature | UntrustedKey | Expired
//                                        > DecryptionError > ReplayedMessage | TooManySkipped
//
// Encodings: b64uEncode, b64uDecode (strict), hexEncode, hexDecode, u8/u32/u64, readU32,
//   readU64, concatBytes, utf8Encode, utf8Decode, constantTimeEqual.
// Lower layers (tests, benchmark): primitives.js (X25519PrivateKey, ed25519Verify, hkdf,
//   aes256gcmEncrypt/Decrypt, ...), hpke.js (setupBaseS/R, keyScheduleBase, ...),
//   ratchet.js (initAlice, initBob, ratchetEncrypt, ratchetDecrypt, kdfRk, kdfCk, ...),
//   envelope.js, padding.js, json.js (canonicalJson, parseJsonObject).
//
// Deviations from e2ee/ (none changes a byte on the wire):
// - Integers above 2**53 - 1 are refused where e2ee accepts them (u64 fields read from
//   the wire, JSON integers, the HPKE sequence number, which stops at 2**53 - 1 instead
//   of 2**96 - 1). No protocol value comes near.
// - No session serialisation: the widget keeps keys in memory only, and X25519 secrets
//   live in non-extractable CryptoKeys (so the vectors' final_sessions are not
//   reproduced). Root and chain keys are HKDF/HMAC key inputs and so exist as bytes in
//   JavaScript memory; a message key exists as bytes only between its HMAC and its import
//   as a non-extractable AES key (skipped keys stay bytes until used or evicted). The
//   session overwrites the bytes a new state no longer holds when it commits it, and
//   drop() overwrites the ones it can reach.
// - Ed25519 verification is Chromium's (BoringSSL), not libsodium's; both agree on every
//   Wycheproof case (tests/widget/test_protocol_primitives.py).

export * from "./errors.js";
export * from "./encoding.js";
export * from "./primitives.js";
export * from "./hpke.js";
export * from "./json.js";
export * from "./identity.js";
export * from "./padding.js";
export * from "./payload.js";
export * from "./envelope.js";
export * from "./ratchet.js";
export * from "./session.js";
