"""A configuration root in a temporary directory, laid out like /."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from leasebox.config.files import CONFIG_DIRS

REPO = Path(__file__).resolve().parents[2]
SRC = REPO / "src"
ETC, RUN, USR = CONFIG_DIRS


def put(root: Path, directory: str, relpath: str, text: str) -> Path:
    path = root / directory / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def run_module(module: str, *args: str, timeout: float = 30,
               env: dict[str, str] | None = None,
               cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A leasebox program as its own process, with none of the service manager's variables
    (so that nothing it inherits here looks like sockets or a journal); `env`: more."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LISTEN_", "NOTIFY_", "WATCHDOG_", "JOURNAL_"))} | (env or {})
    env["PYTHONPATH"] = str(SRC)
    return subprocess.run([sys.executable, "-m", module, *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=cwd)
