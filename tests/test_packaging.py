"""``pip install .`` (not editable) gives a ``quietline`` whose commands all work.

The wheel is built from a copy of the packaged folders (the checkout is left as it is),
installed into a fresh virtual environment, and every part of ``quietline`` is run
from it in a folder outside the checkout: ``relay serve`` on the default data directory
(checked through ``/v1/health``), ``relay add-program``, ``program init`` against that
relay, and ``widget snippet`` and ``widget serve``, whose files must be the package's.
The dependencies are not downloaded: the new environment sees the test environment's
installed packages through a ``.pth`` line, after its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from relay_process import free_port, stop_process

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PASSPHRASE = "correct horse battery staple (test only)"


def _packaged_folders() -> list[str]:
    """The top-level folders pyproject.toml's package discovery includes."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    names = {pattern.rstrip("*").rstrip(".") for pattern in include}
    return sorted(n for n in names if (ROOT / n).is_dir())


def _run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: float = 300) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh virtual environment with the wheel installed; its ``bin`` folder."""
    import setuptools

    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    assert (major, minor) >= (70, 1), (
        "building the wheel offline needs the test extras' setuptools>=70.1: "
        "pip install -e '.[test]'"
    )
    tmp = tmp_path_factory.mktemp("packaging")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for folder in _packaged_folders():
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUIETLINE_", "PYTHON"))}
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "-q",
        "-w",
        tmp / "dist",
        src,
        cwd=tmp,
        env=env,
    )
    [wheel] = (tmp / "dist").glob("quietline-*.whl")
    venv = tmp / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp, env=env)
    python = venv / "bin" / "python"
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        "--disable-pip-version-check",
        "-q",
        wheel,
        cwd=tmp,
        env=env,
    )
    purelib = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp, env=env
    ).strip()
    # The dependencies, from this environment, after the new one's own site-packages.
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(purelib) / "zz_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    yield venv / "bin"


def _env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("QUIETLINE_", "PYTHON", "COVERAGE_")) and k != "XDG_DATA_HOME"
    }
    env.update(HOME=str(tmp / "home"), QUIETLINE_PASSPHRASE=PASSPHRASE)
    return env


def test_the_installed_code_is_the_wheels(installed: Path, tmp_path: Path) -> None:
    out = _run(
        installed / "python",
        "-c",
        "import quietline, server, client_sdk, e2ee, migrations, quietline.widget_cli as w; "
        "print(quietline.__file__); print(server.__file__); print(w.WIDGET_DIR)",
        cwd=tmp_path,
        env=_env(tmp_path),
    )
    venv = installed.parent.resolve()
    for line in out.split():
        assert Path(line).resolve().is_relative_to(venv), line
        assert not Path(line).resolve().is_relative_to(ROOT), line


def _sha384(path: Path) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(path.read_bytes()).digest()).decode()


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text(errors="replace")
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("no answer: " + log.read_text(errors="replace"))


def test_relay_program_and_widget_commands_run_from_the_wheel(
    installed: Path, tmp_path: Path
) -> None:
    env = _env(tmp_path)
    quietline = installed / "quietline"
    port = free_port()
    log = tmp_path / "relay.log"
    with log.open("ab") as out:
        relay = subprocess.Popen(
            [str(quietline), "relay", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
    origin = f"http://127.0.0.1:{port}"
    try:
        assert _wait(origin + "/v1/health", relay, log).json() == {"status": "ok"}
        assert httpx.get(origin + "/v1/health/ready", timeout=10).status_code == 200
        database = tmp_path / "home" / ".local" / "share" / "quietline" / "relay" / "relay.db"
        assert database.is_file()  # the documented default data directory

        token = json.loads(_run(quietline, "relay", "add-program", "--json", cwd=tmp_path, env=env))
        ids = json.loads(
            _run(
                quietline,
                "program",
                "init",
                "--keystore",
                tmp_path / "p.qlks",
                "--relay",
                origin,
                f"--enrollment-token={token['enrollment_token']}",
                "--json",
                cwd=tmp_path,
                env=env,
            )
        )
        assert httpx.get(f"{origin}/v1/programs/{ids['program_id']}").status_code == 200
    finally:
        stop_process(relay)

    snippet = _run(
        quietline,
        "widget",
        "snippet",
        "--relay",
        origin,
        "--program-id",
        ids["program_id"],
        "--identity-key",
        ids["identity_key"],
        cwd=tmp_path,
        env=env,
    )
    pinned = dict(re.findall(r'"/widget/([\w/.-]+)"(?::| integrity=)"(sha384-[^"]+)"', snippet))
    checkout = {
        p.relative_to(ROOT / "widget").as_posix(): _sha384(p)
        for p in (ROOT / "widget").rglob("*")
        if p.suffix in {".js", ".css"} and "sample" not in p.parts
    }
    assert pinned == checkout  # every widget file shipped, pinned by its hash
    folder = Path(_run(quietline, "widget", "path", cwd=tmp_path, env=env).strip())
    assert folder.resolve().is_relative_to(installed.parent.resolve())
    assert (folder / "quietline-widget.js").read_bytes() == (
        ROOT / "widget" / "quietline-widget.js"
    ).read_bytes()

    port = free_port()
    with (tmp_path / "widget.log").open("ab") as out:
        preview = subprocess.Popen(
            [str(quietline), "widget", "serve", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
    try:
        page = _wait(f"http://127.0.0.1:{port}/", preview, tmp_path / "widget.log")
        assert page.status_code == 200 and "quietline-widget.js" in page.text
        script = httpx.get(f"http://127.0.0.1:{port}/widget/protocol/index.js", timeout=10)
        assert script.content == (ROOT / "widget" / "protocol" / "index.js").read_bytes()
    finally:
        stop_process(preview)
