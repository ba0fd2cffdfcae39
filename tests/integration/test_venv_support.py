"""`scripts/test` on a stock Debian machine: when `python3` cannot make a virtual environment
(no `ensurepip`, which Debian ships in `python3-venv`), it installs that package through
`apt-get`, without questions; when venv works it does nothing.

Runs the script's own `venv_support` function with stand-ins on `PATH` for `python3` (no
ensurepip until the stand-in package manager has installed the package that provides it) and
`apt-get` (records what it was asked), so nothing is installed on this machine.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT

SCRIPT = REPO_ROOT / "scripts" / "test"
VERSION = "%d.%d" % sys.version_info[:2]


def venv_support() -> str:
    text = SCRIPT.read_text(encoding="utf-8")
    (function,) = re.findall(r"^venv_support\(\) \{\n.*?^\}\n", text, flags=re.M | re.S)
    return function


def run(tmp_path: Path, provides: str | None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Runs `venv_support` where ensurepip is missing until `provides` is installed (`None`:
    present from the start). Returns the run and the apt-get calls."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker, calls = tmp_path / "installed", tmp_path / "apt-get.log"
    if provides is None:
        marker.touch()
    (bin_dir / "python3").write_text(
        "#!/bin/bash\n"
        f'if [[ "$*" == *"import ensurepip"* && ! -e {marker} ]]; then exit 1; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    (bin_dir / "apt-get").write_text(
        "#!/bin/bash\n"
        f'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND $*" >> {calls}\n'
        f'if [[ $1 == install && " $* " == *" {provides} "* ]]; then touch {marker}; fi\n'
    )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    program = f'set -euo pipefail\nstep() {{ echo "==> $*"; }}\n{venv_support()}venv_support\n'
    done = subprocess.run(
        ["bash", "-c", program],
        capture_output=True,
        text=True,
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(tmp_path)},
        timeout=60,
        check=False,
    )
    return done, calls.read_text().splitlines() if calls.exists() else []


def test_nothing_is_installed_when_venv_works(tmp_path):
    done, calls = run(tmp_path, provides=None)
    assert done.returncode == 0, done.stderr
    assert calls == []


@pytest.mark.skipif(os.geteuid() != 0, reason="installs as root; as another user it needs sudo")
def test_python3_venv_is_installed_without_questions_when_ensurepip_is_missing(tmp_path):
    done, calls = run(tmp_path, provides="python3-venv")
    assert done.returncode == 0, done.stderr
    assert calls == [
        "DEBIAN_FRONTEND=noninteractive update -q",
        "DEBIAN_FRONTEND=noninteractive install -y -q --no-install-recommends python3-venv",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="installs as root; as another user it needs sudo")
def test_a_python3_that_is_not_the_default_gets_its_own_venv_package(tmp_path):
    done, calls = run(tmp_path, provides=f"python{VERSION}-venv")
    assert done.returncode == 0, done.stderr
    assert calls[-1] == (
        f"DEBIAN_FRONTEND=noninteractive install -y -q --no-install-recommends python{VERSION}-venv"
    )
