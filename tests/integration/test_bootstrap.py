"""The Lambda bootstrap as `cargo lambda build --release` makes it, checked for both runtimes.

provided.al2 ships glibc 2.26 and provided.al2023 glibc 2.34: the bootstrap must be either static
or need no GLIBC symbol version newer than 2.26. scripts/test builds it and exports BOOTSTRAP (under
cargo's build folder, wherever CARGO_TARGET_DIR puts it; then SAM's copy under .aws-sam).
"""
import json
import os
import pathlib
import re
import subprocess

import pytest
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

ROOT = pathlib.Path(__file__).resolve().parents[2]
MAX_GLIBC = (2, 26)


@pytest.fixture(scope="module")
def bootstrap():
    value = os.environ.get("BOOTSTRAP", "").strip()
    if not value:
        pytest.fail("BOOTSTRAP is not set: export the path of the bootstrap to check "
                    "(lambda/clickstream-lambda/bootstrap under `cargo metadata`'s target_directory); "
                    "./scripts/test does")
    path = pathlib.Path(value)
    if not path.is_file():
        pytest.fail(f"no bootstrap at {path}: run ./scripts/test (it runs cargo lambda build --release)")
    return path


def glibc_versions(elf):
    """The GLIBC_x.y versions the file's dynamic symbols need."""
    needed = set()
    for section in elf.iter_sections():
        if isinstance(section, GNUVerNeedSection):
            for _, auxiliaries in section.iter_versions():
                for aux in auxiliaries:
                    m = re.fullmatch(r"GLIBC_(\d+)\.(\d+)(?:\.(\d+))?", aux.name)
                    if m:
                        needed.add(tuple(int(x) for x in m.groups() if x is not None))
    return needed


def test_is_an_x86_64_linux_executable(bootstrap):
    with bootstrap.open("rb") as f:
        elf = ELFFile(f)
        assert elf.elfclass == 64
        assert elf["e_machine"] == "EM_X86_64"
        assert elf["e_type"] in ("ET_EXEC", "ET_DYN")
    assert os.access(bootstrap, os.X_OK)


def test_static_or_needs_no_glibc_newer_than_amazon_linux_2(bootstrap):
    with bootstrap.open("rb") as f:
        elf = ELFFile(f)
        interpreter = [s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP"]
        if not interpreter:
            return  # static: runs anywhere
        needed = glibc_versions(elf)
    assert needed, "a dynamic executable that needs no GLIBC version is unexpected"
    newest = max(needed)
    assert newest <= MAX_GLIBC, f"needs GLIBC_{'.'.join(map(str, newest))}, Amazon Linux 2 has 2.26"


def test_the_built_bootstrap_answers_an_event(bootstrap):
    done = subprocess.run([str(bootstrap), "invoke", str(ROOT / "events/firehose-clicks.json")],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "RUST_LOG": "warn"})
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert len(answer["records"]) == 10
    assert all(r["result"] == "Ok" for r in answer["records"])
