"""The emulated test runs, as far as the normal suite takes them: no emulator here.

.ci/run does the emulated runs (they take minutes):
  tools/run_westmere.sh          the whole suite under qemu-x86_64 -cpu Westmere (no AVX)
  tools/run_neon_test.sh neon    the C test of the kernel tables, NEON vs scalar, under
                                 qemu-aarch64
This file checks that those scripts parse, and runs the same C test natively on this host
(x86-64: SSE2 and AVX2 tables vs scalar; aarch64: NEON vs scalar), which takes seconds.
"""
import os
import pathlib
import platform
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = [ROOT / ".ci" / "run", ROOT / "tools" / "run_westmere.sh", ROOT / "tools" / "run_neon_test.sh"]
C_TEST = ROOT / "tests" / "c" / "test_kernels.c"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_parses(script):
    if not script.exists():
        pytest.skip(f"{script} not in this tree")
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    proc = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_c_kernel_tables_native(tmp_path):
    """tests/c/test_kernels.c built with the host's gcc: every SIMD table vs scalar and a
    long double reference, through the C drivers (the emulated NEON run is in .ci/run)."""
    machine = platform.machine().lower()
    mode = {"x86_64": "x86", "amd64": "x86", "aarch64": "neon", "arm64": "neon"}.get(machine)
    if mode is None:
        pytest.skip(f"no SIMD tables for {machine}")
    if not C_TEST.exists() or not (ROOT / "csrc" / "fsm.h").exists():
        pytest.skip("C sources not in this tree")
    if shutil.which("gcc") is None or shutil.which("bash") is None:
        pytest.skip("no gcc or bash")
    proc = subprocess.run(
        ["bash", str(ROOT / "tools" / "run_neon_test.sh"), mode, "--quick"],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "FSM_CTEST_DIR": str(tmp_path)},
    )
    last = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    assert proc.returncode == 0, f"{last[0]}\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
    assert last[0].endswith(" 0 failed"), proc.stdout[-3000:]
