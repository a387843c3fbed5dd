#!/usr/bin/env bash
# Run the Python test suite on an emulated pre-AVX CPU: qemu-x86_64 -cpu Westmere (SSE4.2,
# no AVX/AVX2/FMA). The installed fastsoftmax must import without SIGILL, pick the sse2
# path, and pass the tests there.
#
#   tools/run_westmere.sh [PYTEST ARGS...]
#
# Default pytest arguments: -x -q -m "not slow" (the whole suite but the slow sweeps), from
# the repository root; any arguments given replace the marker and test selection, e.g.
#   tools/run_westmere.sh tests/test_isa_paths.py
# Needs: qemu-user (Debian) and fastsoftmax installed for the interpreter `python` (or
# $PYTHON), e.g. by pip install ".[test]". FASTSOFTMAX_ISA is unset for the run.
#
# qemu-user does not follow exec(): a test that starts sys.executable in a subprocess would
# run natively, on the host's CPU. So the interpreter is entered through a small venv-like
# directory whose bin/python runs the real one under qemu with argv[0] set to itself: there
# sys.executable is that wrapper, and children are emulated too. Its site-packages points
# at the interpreter's own (a .pth file), so the same packages are seen.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
CPU="${FSM_QEMU_CPU:-Westmere}"
TIMEOUT="${FSM_WESTMERE_TIMEOUT:-1800}"   # seconds, for the pytest run

command -v qemu-x86_64 >/dev/null 2>&1 || {
    echo "run_westmere.sh: qemu-x86_64 not found (apt-get install qemu-user)" >&2
    exit 2
}
[ "$(uname -m)" = x86_64 ] || { echo "run_westmere.sh: needs an x86-64 host" >&2; exit 2; }
qemu_version="$(qemu-x86_64 --version)"
echo "${qemu_version%%$'\n'*}"
cpus="$(qemu-x86_64 -cpu help || true)"   # (exits 1 after the list; not piped into grep -q: pipefail)
if ! grep -qw -- "$CPU" <<<"$cpus"; then
    echo "run_westmere.sh: this qemu-x86_64 has no CPU model '$CPU'" >&2
    exit 2
fi

# The real interpreter (pyenv shims and the like are scripts: qemu needs the ELF binary).
REAL="$("$PYTHON" -c 'import sys; print(sys.executable)')"
WRAP="$(mktemp -d "${TMPDIR:-/tmp}/fsm-westmere.XXXXXX")"
trap 'rm -rf "$WRAP"' EXIT

"$PYTHON" - "$WRAP" "$REAL" "$CPU" <<'EOF'
import os, site, sys, sysconfig
wrap, real, cpu = sys.argv[1:4]
home = os.path.dirname(os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable))
ver = "%d.%d" % sys.version_info[:2]
os.makedirs(os.path.join(wrap, "bin"))
with open(os.path.join(wrap, "pyvenv.cfg"), "w") as f:
    f.write(f"home = {home}\ninclude-system-site-packages = false\n"
            f"version = {sys.version.split()[0]}\n")
exe = os.path.join(wrap, "bin", "python")
with open(exe, "w") as f:
    f.write(f'#!/bin/sh\nexec qemu-x86_64 -cpu {cpu} -0 "$0" "{real}" "$@"\n')
os.chmod(exe, 0o755)
# the venv's own site-packages (the one the emulated interpreter sees) adds ours
purelib = sysconfig.get_path("purelib", vars={"base": wrap, "platbase": wrap})
os.makedirs(purelib, exist_ok=True)
dirs = list(site.getsitepackages())
if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
    dirs.append(site.getusersitepackages())
with open(os.path.join(purelib, "_fsm_parent_site.pth"), "w") as f:
    f.write("import site; " + "; ".join(f"site.addsitedir({d!r})" for d in dirs) + "\n")
# a pytest plugin for the emulated run: no Hypothesis deadlines (emulation is ~10x slower)
with open(os.path.join(wrap, "fsm_westmere_plugin.py"), "w") as f:
    f.write(
        "try:\n"
        "    from hypothesis import HealthCheck, settings\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    settings.register_profile('fsm-emulated', deadline=None,\n"
        "                              suppress_health_check=[HealthCheck.too_slow])\n"
        "    settings.load_profile('fsm-emulated')\n")
EOF
EMU="$WRAP/bin/python"
unset FASTSOFTMAX_ISA
echo "interpreter: $REAL, run as $EMU (qemu-x86_64 -cpu $CPU)"

echo "--- import under $CPU: the dispatcher must pick sse2"
"$EMU" -c "import fastsoftmax; fastsoftmax.show_config()"
active="$("$EMU" -c "import fastsoftmax; print(fastsoftmax.show_config(print_=False)['active'])")"
if [ "$active" != sse2 ]; then
    echo "FAIL: active path under $CPU is '$active', expected 'sse2'" >&2
    exit 1
fi
# the check must see the emulated CPU: a subprocess of the emulated interpreter is emulated
child="$("$EMU" -c "import subprocess, sys; print(subprocess.run([sys.executable, '-c', 'import fastsoftmax; print(fastsoftmax.show_config(print_=False)[\"active\"])'], capture_output=True, text=True, check=True).stdout.strip())")"
if [ "$child" != sse2 ]; then
    echo "FAIL: a child interpreter picked '$child' (not emulated?), expected 'sse2'" >&2
    exit 1
fi
echo "ok: active path is sse2 (in children too)"

echo "--- pytest under $CPU"
if [ $# -eq 0 ]; then
    # the Dask layer is Python over the same kernels; emulating its cluster tests costs minutes
    set -- -m "not slow" --ignore=tests/test_dask.py
fi
cd "$ROOT"
PYTHONPATH="$WRAP${PYTHONPATH:+:$PYTHONPATH}" timeout "$TIMEOUT" \
    "$EMU" -m pytest -p fsm_westmere_plugin -p no:cacheprovider -x -q "$@"
