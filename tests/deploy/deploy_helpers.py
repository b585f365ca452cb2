"""Reading the examples in deploy/ and running their command lines on this machine."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
INSTALLED = "/opt/quietline/bin/quietline"
"""Where the units expect the command (docs/operations.md, "Install")."""
QUIETLINE = str(Path(sys.executable).with_name("quietline"))
"""This checkout's command, which the tests put in its place."""


def unit_entries(path: Path) -> dict[str, dict[str, list[str]]]:
    """Every ``Key=value`` of a systemd unit by section, in order, with continuation
    lines joined (a key may come more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a Key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def exec_start(path: Path, **replace: str) -> list[str]:
    """The unit's ExecStart as arguments, with ``replace``'s strings put in (the
    installed command becomes this checkout's)."""
    (line,) = unit_entries(path)["Service"]["ExecStart"]
    for old, new in {INSTALLED: QUIETLINE, **replace}.items():
        assert old in line, f"{old!r} is not in {path.name}'s ExecStart"
        line = line.replace(old, new)
    return shlex.split(line)


def tool(name: str) -> str | None:
    """The path of a program, looked up also in the sbin folders (nginx)."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/local/sbin")


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate and key for localhost and 127.0.0.1, made with openssl."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def substitute(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each key replaced; fails when one is missing (the example changed
    under the test, which must then be changed too)."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is not in the example"
        text = text.replace(old, new)
    return text
