"""The man page and the default file are generated from the table, and up to date."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from leasebox.config import settings as s
from leasebox.config.docs import render_default_file, render_man
from leasebox.config.parse import parse
from tests.config.confroot import REPO

MAN = REPO / "man" / "leasebox.conf.5"
DEFAULT = REPO / "packaging" / "leasebox.conf"
FIX = "run scripts/gen-config-docs and commit the result"


def test_generated_files_are_up_to_date() -> None:
    assert MAN.read_text() == render_man(), f"{MAN} is stale: {FIX}"
    assert DEFAULT.read_text() == render_default_file(), f"{DEFAULT} is stale: {FIX}"


def test_the_script_agrees() -> None:
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "gen-config-docs"), "--check"],
                          capture_output=True, text=True, timeout=30, check=False,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr


def test_default_file_shows_every_setting_commented_out_at_its_default() -> None:
    text = render_default_file()
    assert parse([("default", text)]).assigned == {}  # everything is commented out
    uncommented = "\n".join(line[1:] if line.startswith("#") and "=" in line
                            and not line.startswith("# ") else line
                            for line in text.splitlines())
    config = parse([("uncommented", uncommented)])
    assert {key for key in config.assigned} == {x.key for x in s.SETTINGS}
    for setting in s.SETTINGS:
        assert config[setting] == setting.default, setting.name


def test_man_page_documents_every_setting() -> None:
    man = render_man()
    for setting in s.SETTINGS:
        assert f"\\fB{setting.name.replace('-', chr(92) + '-')}=\\fR" in man
    for section in s.SECTIONS:
        assert f".SH [{section}] SECTION OPTIONS" in man


@pytest.mark.skipif(shutil.which("groff") is None, reason="needs groff")
def test_man_page_renders_without_warnings() -> None:
    proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(MAN)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0 and proc.stderr == ""
