"""The Lambda bootstrap as `cargo lambda build --release` makes it, checked for both runtimes.

provided.al2 ships glibc 2.26 and provided.al2023 glibc 2.34: for each runtime the template's
`LambdaRuntime` allows (provided.al2023 by default, provided.al2 the design's), the bootstrap must
be static or need no GLIBC symbol version newer than that runtime's glibc; a runtime added to the
template without its glibc here fails. scripts/test builds it and exports BOOTSTRAP (under cargo's
build folder, wherever CARGO_TARGET_DIR puts it; then SAM's copy under .aws-sam).

What cannot be run here is the bootstrap inside each runtime's image (no Docker): it is run on this
machine, whose glibc is at least as new as both.
"""
import json
import os
import pathlib
import re
import subprocess

import pytest
from cfnlint.decode import cfn_yaml
from elftools.elf.elffile import ELFFile
from elftools.elf.gnuversions import GNUVerNeedSection

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The glibc each OS-only runtime ships (Amazon Linux 2: 2.26; Amazon Linux 2023: 2.34).
RUNTIME_GLIBC = {"provided.al2": (2, 26), "provided.al2023": (2, 34)}


def template_runtimes():
    spec = cfn_yaml.load(str(ROOT / "template.yaml"))["Parameters"]["LambdaRuntime"]
    return spec["AllowedValues"]


RUNTIMES = template_runtimes()


def test_the_template_offers_both_runtimes_al2023_first():
    assert sorted(RUNTIMES) == sorted(RUNTIME_GLIBC), RUNTIMES
    spec = cfn_yaml.load(str(ROOT / "template.yaml"))["Parameters"]["LambdaRuntime"]
    assert spec["Default"] == "provided.al2023"


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


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_static_or_needs_no_glibc_newer_than_the_runtimes(bootstrap, runtime):
    assert runtime in RUNTIME_GLIBC, f"{runtime}: which glibc does it ship? Add it to RUNTIME_GLIBC"
    with bootstrap.open("rb") as f:
        elf = ELFFile(f)
        interpreter = [s for s in elf.iter_segments() if s["p_type"] == "PT_INTERP"]
        if not interpreter:
            return  # static: runs anywhere
        needed = glibc_versions(elf)
    assert needed, "a dynamic executable that needs no GLIBC version is unexpected"
    newest, has = max(needed), RUNTIME_GLIBC[runtime]
    assert newest <= has, (
        f"needs GLIBC_{'.'.join(map(str, newest))}, {runtime} has {'.'.join(map(str, has))}"
    )


def test_the_built_bootstrap_answers_an_event(bootstrap):
    done = subprocess.run([str(bootstrap), "invoke", str(ROOT / "events/firehose-clicks.json")],
                          capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ.get("PATH", ""), "RUST_LOG": "warn"})
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert len(answer["records"]) == 10
    assert all(r["result"] == "Ok" for r in answer["records"])
