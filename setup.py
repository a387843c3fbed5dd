"""Build the C extension fastsoftmax._core.

One binary for every CPU of an architecture: each instruction-set file in csrc/ enables its
own target with a pragma (see csrc/fsm_simd_*.h), and csrc/fsm_dispatch.c picks the best
path at import. The baseline build never uses -march=native.

Environment toggles (local builds only):
  FASTSOFTMAX_NATIVE=1   add -march=native (not portable: never for wheels)
  FASTSOFTMAX_DEBUG=1    -O0 -g, assertions on
"""
import os
import platform

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

machine = platform.machine().lower()
is_x86_64 = machine in ("x86_64", "amd64")
is_arm64 = machine in ("aarch64", "arm64")
is_msvc = os.name == "nt"

sources = [
    "src/fastsoftmax/_core.pyx",
    "csrc/fsm_driver.c",
    "csrc/fsm_dispatch.c",
    "csrc/fsm_scalar.c",
]
if is_x86_64:
    sources += ["csrc/fsm_sse2.c", "csrc/fsm_avx2.c"]
if is_arm64:
    sources += ["csrc/fsm_neon.c"]

if is_msvc:
    extra_compile_args = ["/O2", "/fp:precise"]
else:
    # -ffp-contract=off: the kernels place every fused multiply-add by hand; letting the
    # compiler fuse others would change the error analysis of TwoSum and Cody-Waite steps.
    extra_compile_args = ["-O3", "-ffp-contract=off", "-fno-math-errno",
                          "-Wall", "-Wno-unused-function"]
    if os.environ.get("FASTSOFTMAX_DEBUG"):
        extra_compile_args = ["-O0", "-g", "-ffp-contract=off", "-UNDEBUG"]
    if os.environ.get("FASTSOFTMAX_NATIVE"):
        extra_compile_args.append("-march=native")

ext = Extension(
    "fastsoftmax._core",
    sources=sources,
    include_dirs=["csrc", np.get_include()],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=extra_compile_args,
)

setup(ext_modules=cythonize([ext], language_level=3,
                            compiler_directives={"boundscheck": False, "wraparound": False}))
