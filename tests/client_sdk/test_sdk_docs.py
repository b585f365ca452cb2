"""The runnable example of docs/sdk.md, run as written against a real relay."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "correct horse battery staple (test only)"


def example() -> str:
    text = (ROOT / "docs" / "sdk.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- example:[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert match, "docs/sdk.md lost its runnable example"
    return match.group(1)


def test_docs_example_runs_against_a_real_relay(
    shared_program: Any, relay: Any, tmp_path: Path
) -> None:
    script = tmp_path / "example.py"
    script.write_text(example(), encoding="utf-8")
    env = dict(
        os.environ,
        QUIETLINE_RELAY_URL=relay.url,
        QUIETLINE_KEYSTORE=str(shared_program.keystore),
        QUIETLINE_PASSPHRASE=PASSPHRASE,
        QUIETLINE_PROGRAM_ID=shared_program.program_id,
        QUIETLINE_IDENTITY_KEY=shared_program.identity_key,
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    # the two sides print concurrently: compare without their interleaving
    assert sorted(result.stdout.splitlines()) == sorted(
        [
            "participant sees: Support line",
            "program: new conversation",
            "program got: Hello, مرحبا, 你好",
            "participant got: We are here. You are safe to talk.",
            "program: participant left",
        ]
    )
