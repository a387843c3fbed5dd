"""Build the C extension fastsoftmax._core.

One binary for every CPU of an architecture: each instruction-set file in csrc/ enables its
own target with a pragma (see csrc/fsm_simd_*.h), and csrc/fsm_dispatch.c picks the best
path at import. The baseline build never uses -march=native.

Environment toggles (local builds only):
  FASTSOFTMAX_NATIVE=1   add -march=native (not portable: never for wheels)
  FASTSOFTMAX_DEBUG=1    -O0 -g, assertions on
  FASTSOFTMAX_OPENMP=0   build without OpenMP (serial; also the fallback when the compiler
                         has none, e.g. Apple clang)
"""
import os
import platform
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

machine = platform.machine().lower()
is_x86_64 = machine in ("x86_64", "amd64")
is_arm64 = machine in ("aarch64", "arm64")
is_msvc = os.name == "nt"

sources = [
    "src/fastsoftmax/_core.pyx",
    "csrc/fsm_driver.c",
    "csrc/fsm_dispatch.c",
    "csrc/fsm_scalar.c",
    "csrc/fsm_ml.c",
]
if is_x86_64:
    sources += ["csrc/fsm_sse2.c", "csrc/fsm_avx2.c", "csrc/fsm_avx512.c"]
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
    # the headers hold the kernel and driver bodies: a change to one must rebuild
    depends=sorted(os.path.join("csrc", f) for f in os.listdir("csrc") if f.endswith(".h"))
    + ["src/fastsoftmax/_ml.pxi"],
)

OPENMP_PROBE = "#include <omp.h>\nint main(void) { return omp_get_max_threads() < 1; }\n"


class BuildExtWithOpenMP(build_ext):
    """Adds OpenMP flags when the compiler at hand can build and link an OpenMP program."""

    def build_extensions(self):
        flags = self._openmp_flags()
        for e in self.extensions:
            e.extra_compile_args += flags[0]
            e.extra_link_args += flags[1]
        print(f"fastsoftmax: OpenMP {'on ' + ' '.join(flags[0]) if flags[0] else 'off'}")
        super().build_extensions()

    def _openmp_flags(self):
        if os.environ.get("FASTSOFTMAX_OPENMP", "1") == "0":
            return [], []
        if self.compiler.compiler_type == "msvc":
            # MSVC's /openmp is OpenMP 2.0, which the drivers' pragmas go beyond (omp atomic
            # write, loop variables declared in the for): Windows builds are serial for now
            return [], []
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "probe.c")
            with open(src, "w") as f:
                f.write(OPENMP_PROBE)
            try:
                objs = self.compiler.compile([src], output_dir=tmp, extra_postargs=["-fopenmp"])
                self.compiler.link_executable(objs, os.path.join(tmp, "probe"),
                                              extra_postargs=["-fopenmp"])
            except Exception:  # no OpenMP here: a serial build
                return [], []
        return ["-fopenmp"], ["-fopenmp"]


setup(cmdclass={"build_ext": BuildExtWithOpenMP},
      ext_modules=cythonize([ext], language_level=3,
                            compiler_directives={"boundscheck": False, "wraparound": False}))
