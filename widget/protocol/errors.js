// Errors raised by the widget's protocol core; the same tree as e2ee/errors.py.
//
//   QuietlineError
//    +-- LocalProtocolError        the caller misused the API (wrong state, bad argument)
//    |    +-- SequenceOverflow     an HPKE context ran out of nonces
//    +-- RemoteProtocolError       the peer or the relay sent something wrong
//         +-- MalformedInput       bytes that do not parse (bad length, field, JSON, padding)
//         |    +-- OversizedInput  larger than a named limit
//         +-- InvalidKey           wrong length or a low-order X25519 point
//         +-- VerificationError    a signature, pinned key or expiry check failed
//         |    +-- InvalidSignature
//         |    +-- UntrustedKey    an identity key other than the pinned one
//         |    +-- Expired
//         +-- DecryptionError      authentication failed; never says which check
//              +-- ReplayedMessage a counter that was already consumed
//              +-- TooManySkipped  a gap larger than the skipped-key bound
//
// Messages never contain key material or plaintext. WebCrypto's own exceptions
// (DOMException OperationError and the like) are translated at the primitives boundary.

export class QuietlineError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}
export class LocalProtocolError extends QuietlineError {}
export class SequenceOverflow extends LocalProtocolError {}
export class RemoteProtocolError extends QuietlineError {}
export class MalformedInput extends RemoteProtocolError {}
export class OversizedInput extends MalformedInput {}
export class InvalidKey extends RemoteProtocolError {}
export class VerificationError extends RemoteProtocolError {}
export class InvalidSignature extends VerificationError {}
export class UntrustedKey extends VerificationError {}
export class Expired extends VerificationError {}
export class DecryptionError extends RemoteProtocolError {
  constructor(message = "decryption failed") {
    super(message);
  }
}
export class ReplayedMessage extends DecryptionError {
  constructor(message = "message already received") {
    super(message);
  }
}
export class TooManySkipped extends DecryptionError {
  constructor(message = "too many skipped messages") {
    super(message);
  }
}
