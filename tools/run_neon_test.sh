#!/usr/bin/env bash
# Build and run the C test of the kernel tables (tests/c/test_kernels.c): every SIMD table of
# an architecture against the scalar table and a high-precision reference, through the
# drivers of csrc/fsm_driver.c.
#
#   tools/run_neon_test.sh [MODE] [TEST ARGS...]
#
#   neon      (default) cross-compile for aarch64 with aarch64-linux-gnu-gcc, run under
#             qemu-aarch64: NEON vs scalar. On an aarch64 host: native gcc, run directly.
#   x86       native x86-64 build: SSE2 and (if this CPU has it) AVX2 vs scalar
#   westmere  the x86 build run under qemu-x86_64 -cpu Westmere (no AVX): SSE2 vs scalar,
#             and the dispatcher must pick sse2 (--expect-best sse2)
#   all       neon, x86 and westmere
#
# TEST ARGS go to the test program: -v (error summary), --quick, --n N, --expect-best ISA.
# Needs (Debian): gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user. The binaries go to
# build/ctest/ (override with FSM_CTEST_DIR). Exit status: the test's (non-zero on failure).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${FSM_CTEST_DIR:-$ROOT/build/ctest}"
MODE="${1:-neon}"
[ $# -gt 0 ] && shift

# -ffp-contract=off as in setup.py: the kernels place every FMA by hand
CFLAGS=(-O2 -ffp-contract=off -fno-math-errno -Wall -Wextra -Wno-unused-function
        -I"$ROOT/csrc")
COMMON=("$ROOT/tests/c/test_kernels.c" "$ROOT/csrc/fsm_driver.c" "$ROOT/csrc/fsm_dispatch.c"
        "$ROOT/csrc/fsm_scalar.c")

need() {
    command -v "$1" >/dev/null 2>&1 || {
        echo "run_neon_test.sh: '$1' not found (apt-get install $2)" >&2
        exit 2
    }
}

build_x86() {
    need gcc gcc
    mkdir -p "$OUT"
    echo "+ gcc ${CFLAGS[*]} ... fsm_sse2.c fsm_avx2.c fsm_avx512.c -lm -o $OUT/test_kernels_x86"
    gcc "${CFLAGS[@]}" "${COMMON[@]}" "$ROOT/csrc/fsm_sse2.c" "$ROOT/csrc/fsm_avx2.c" "$ROOT/csrc/fsm_avx512.c" -lm \
        -o "$OUT/test_kernels_x86"
}

run_neon() {
    mkdir -p "$OUT"
    local cc=aarch64-linux-gnu-gcc runner=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
    if [ "$(uname -m)" = aarch64 ]; then
        cc=gcc runner=()
    else
        need aarch64-linux-gnu-gcc "gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
        need qemu-aarch64 qemu-user
    fi
    echo "+ $cc ${CFLAGS[*]} ... fsm_neon.c -lm -o $OUT/test_kernels_neon"
    "$cc" "${CFLAGS[@]}" "${COMMON[@]}" "$ROOT/csrc/fsm_neon.c" -lm -o "$OUT/test_kernels_neon"
    echo "+ ${runner[*]} $OUT/test_kernels_neon --expect-best neon $*"
    "${runner[@]}" "$OUT/test_kernels_neon" --expect-best neon "$@"
}

run_x86() {
    [ "$(uname -m)" = x86_64 ] || { echo "run_neon_test.sh: x86 mode needs an x86-64 host" >&2; exit 2; }
    build_x86
    echo "+ $OUT/test_kernels_x86 $*"
    "$OUT/test_kernels_x86" "$@"
}

run_westmere() {
    [ "$(uname -m)" = x86_64 ] || { echo "run_neon_test.sh: westmere mode needs an x86-64 host" >&2; exit 2; }
    need qemu-x86_64 qemu-user
    build_x86
    echo "+ qemu-x86_64 -cpu Westmere $OUT/test_kernels_x86 --expect-best sse2 $*"
    qemu-x86_64 -cpu Westmere "$OUT/test_kernels_x86" --expect-best sse2 "$@"
}

case "$MODE" in
neon) run_neon "$@" ;;
x86) run_x86 "$@" ;;
westmere) run_westmere "$@" ;;
all)
    rc=0
    for m in neon x86 westmere; do
        echo "=== $m"
        bash "$0" "$m" "$@" || rc=1
    done
    exit $rc
    ;;
-h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' ;;
*) echo "run_neon_test.sh: unknown mode '$MODE' (neon, x86, westmere, all)" >&2; exit 2 ;;
esac
