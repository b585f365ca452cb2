"""The Quietline relay: zero-knowledge store-and-forward server (see DESIGN.md)."""
