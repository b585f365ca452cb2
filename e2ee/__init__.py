"""Quietline protocol core: sans-I/O, no clock, randomness passed in.

See docs/protocol.md for the byte layouts; this package is their reference.
"""

PROTOCOL_VERSION = 1
