"""Every command README.md shows runs as written on a fresh clone.

Commands are the lines of README's ```bash blocks. A study script or module is run with its
own options plus ``--help`` (argparse reads options in order, so an unknown choice or a bad
value fails before the help is printed) and each option README uses must be one the script
lists; a ``make`` target must exist in the Makefile (``make -n``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                cmds.append(line)
    return cmds


def test_readme_is_a_short_guide_with_runnable_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 210, len(lines)
    cmds = readme_commands()
    assert "make run" in cmds and "make test" in cmds
    assert any(c.startswith("python sweeps/") for c in cmds)


@pytest.mark.parametrize("cmd", readme_commands())
def test_readme_command_runs(cmd):
    argv = shlex.split(cmd)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if argv[0] == "make":
        proc = subprocess.run(["make", "-n", *argv[1:]], cwd=ROOT, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return
    assert argv[0] == "python", f"README command {cmd!r}: expected python or make"
    args = argv[1:]
    if "--help" not in args:
        args = [*args, "--help"]
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, f"{cmd}: {proc.stderr[-2000:]}"
    for flag in (a.split("=", 1)[0] for a in argv[1:] if a.startswith("--")):
        assert flag in proc.stdout, f"{cmd}: {flag} is not an option of this command"
