"""The `quietline` command: one entry point that dispatches to each part."""
