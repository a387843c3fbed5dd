"""Benchmark fastsoftmax against NumPy, scipy.special and torch (one thread each), and
fastsoftmax on more OpenMP threads.

    python bench/bench.py [--quick] [--threads N ...] [--sweep] [--json PATH]
                          [--functions F ...] [--dtypes D ...] [--no-progress]

Every competitor runs in this process on the same input array. Times are the minimum over
`repeat` rounds of timeit-style loops, each loop long enough to last `min_time` seconds;
each round times every competitor in turn, so that load from elsewhere hits all alike.
Speed-up = competitor time / fastsoftmax time (> 1: fastsoftmax is faster). The floor is
`np.copyto(dst, x)`: one read and one write of the input's bytes, used for all three
functions (logsumexp writes far less, so its true floor is lower).

Threads: the competitors always run on one thread (torch.set_num_threads(1), BLAS and OpenMP
pools limited to 1 by threadpoolctl); fastsoftmax runs once per count in `threads`, under
`threadpoolctl.threadpool_limits(limits=n, user_api="openmp")`, in the same rounds as the
competitors. The targets use the 1-thread figures. `--sweep` adds single-threaded timings
of (R, n) arrays along the last axis for row lengths n from 10 to 100000 (R * n ~ 2^20).

Importable: `compare(...)` returns the figures, `format_tables(...)`,
`evaluate_targets(...)` and `environment()` present them; `sweep(...)` and
`format_sweep(...)` do the same for the row-length sweep; `main(argv)` is the CLI.
"""
import argparse
import ctypes
import gc
import json
import os
import platform
import shutil
import sys
import time
import timeit
from collections import namedtuple
from contextlib import contextmanager, nullcontext

import numpy as np

import fastsoftmax

try:
    import scipy
    import scipy.special
except ImportError:  # pragma: no cover - scipy is a bench dependency, but stay usable
    scipy = None
try:
    import torch
except ImportError:
    torch = None
try:
    import threadpoolctl
except ImportError:
    threadpoolctl = None

FUNCTIONS = ("softmax", "log_softmax", "logsumexp")
DTYPES = ("float32", "float64")

# (shape, axis, full runs only)
Case = namedtuple("Case", "shape axis full_only")
CASES = (
    Case((10,), -1, False),
    Case((1000,), -1, False),
    Case((256, 1000), -1, False),
    Case((4096, 4096), -1, True),
    Case((1000, 4096), -1, False),
    Case((1000, 4096), 0, False),
    Case((64, 32000), -1, False),
)

# Targets from the project's issue: fastsoftmax must be at least `ratio` times faster.
Target = namedtuple("Target", "function shape axis dtype competitor ratio")
TARGETS = (
    Target("softmax", (256, 1000), -1, "float32", "numpy", 10.0),
    Target("softmax", (256, 1000), -1, "float32", "torch", 2.5),
    Target("softmax", (256, 1000), -1, "float64", "numpy", 10.0),
    Target("softmax", (256, 1000), -1, "float64", "torch", 2.0),
    Target("logsumexp", (256, 1000), -1, "float32", "scipy", 30.0),
    Target("logsumexp", (256, 1000), -1, "float32", "torch", 2.0),
    Target("logsumexp", (256, 1000), -1, "float64", "scipy", 30.0),
    Target("logsumexp", (256, 1000), -1, "float64", "torch", 2.0),
    Target("log_softmax", (256, 1000), -1, "float32", "torch", 2.5),
    Target("softmax", (10,), -1, "float32", "numpy", 10.0),
    Target("softmax", (10,), -1, "float32", "torch", 2.5),
)

# Keyword costs (issue 4): a keyword call against the plain call on the same input, both
# fastsoftmax on 1 thread; the target is the keyword call within `limit` x the plain one.
KEYWORD_SHAPE, KEYWORD_DTYPE = (256, 1000), "float32"
Keyword = namedtuple("Keyword", "function label kwargs limit")
KEYWORDS = (
    Keyword("softmax", "where= (90% kept)", lambda x, rng: {"where": rng.random(x.shape) < 0.9}, 2.0),
    Keyword("log_softmax", "where= (90% kept)", lambda x, rng: {"where": rng.random(x.shape) < 0.9}, 2.0),
    Keyword("logsumexp", "where= (90% kept)", lambda x, rng: {"where": rng.random(x.shape) < 0.9}, 2.0),
    Keyword("logsumexp", "b= (full shape)", lambda x, rng: {"b": rng.uniform(0.1, 2, x.shape).astype(x.dtype)}, 2.0),
    Keyword("logsumexp", "b= (one row, broadcast)", lambda x, rng: {"b": rng.uniform(0.1, 2, x.shape[-1]).astype(x.dtype)}, 2.0),
    Keyword("softmax", "temperature=0.7", lambda x, rng: {"temperature": 0.7}, None),
    Keyword("log_softmax", "temperature=0.7", lambda x, rng: {"temperature": 0.7}, None),
)

MIN_TIME, MIN_TIME_QUICK = 0.05, 0.01
REPEAT = 5

# --sweep: (R, n) arrays along the last axis, R * n ~ SWEEP_ELEMENTS, single-threaded
SWEEP_LENGTHS = (10, 32, 100, 316, 1000, 3162, 10000, 31623, 100000)
SWEEP_ELEMENTS = 1 << 20
SWEEP_FUNCTIONS = ("softmax", "logsumexp")
SWEEP_COMPETITORS = ("numpy", "torch")

# glibc's malloc serves large blocks with fresh mmap()s, so every temporary array costs
# page faults, until the first free() of such a block raises its threshold: the same call
# then runs up to 4x faster (scipy.special.logsumexp, with many temporaries, the most), so
# timings would depend on what the process did before. The mode fixes the allocator:
#   warm: blocks up to 32 MiB from the heap, kept (the steady state of a long-running process)
#   cold: glibc's initial thresholds, fixed (every block of 128 KiB or more page-faults anew)
#   asis: leave it alone
MALLOC_MODES = {"warm": (32 << 20, 64 << 20), "cold": (128 << 10, 128 << 10), "asis": None}
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_malloc_state = "as is (not configured)"


# --- the implementations under test --------------------------------------------------------

def _np_softmax(x, axis):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _np_log_softmax(x, axis):
    s = x - x.max(axis, keepdims=True)
    return s - np.log(np.exp(s).sum(axis, keepdims=True))


def _np_logsumexp(x, axis):
    m = x.max(axis, keepdims=True)
    return m.squeeze(axis) + np.log(np.exp(x - m).sum(axis))


_NUMPY = {"softmax": _np_softmax, "log_softmax": _np_log_softmax, "logsumexp": _np_logsumexp}


def _bind_fastsoftmax(func, x, axis):
    f = getattr(fastsoftmax, func)
    return lambda: f(x, axis=axis)


def _bind_numpy(func, x, axis):
    f = _NUMPY[func]
    return lambda: f(x, axis)


def _bind_scipy(func, x, axis):
    f = getattr(scipy.special, func)
    return lambda: f(x, axis=axis)


def _bind_torch(func, x, axis):
    f = getattr(torch, func)            # torch.softmax, torch.log_softmax, torch.logsumexp
    t = torch.from_numpy(x)             # shares memory with x: no copy in the timed call
    return lambda: f(t, dim=axis)


def _bind_memcpy(func, x, axis):
    dst = np.empty_like(x)
    return lambda: np.copyto(dst, x)


# name -> binder(function, x, axis) returning a zero-argument callable; None if unavailable
COMPETITORS = {
    "fastsoftmax": _bind_fastsoftmax,
    "numpy": _bind_numpy,
    "scipy": _bind_scipy if scipy is not None else None,
    "torch": _bind_torch if torch is not None else None,
    "memcpy": _bind_memcpy,
}
RIVALS = ("numpy", "scipy", "torch")        # the ones a speed-up is reported against


def available_competitors():
    return [name for name, binder in COMPETITORS.items() if binder is not None]


# --- timing --------------------------------------------------------------------------------

def time_calls(fns, min_time=MIN_TIME, repeat=REPEAT, contexts=None):
    """Time each zero-argument callable in {name: fn}; returns {name: (s per call, loops)}.

    Each is called once to warm up and given a loop length (1, 2, 5, 10, 20, ... calls) so
    that one loop lasts >= min_time. Then `repeat` rounds run one loop of every callable in
    turn, so that a burst of load from elsewhere hits all of them alike, and each keeps its
    fastest loop. timeit turns the garbage collector off while it times. contexts: optional
    {name: zero-argument callable returning a context manager} entered around each of that
    callable's loops (outside the timed part), e.g. a thread limit."""
    contexts = contexts or {}

    def around(name):
        return contexts[name]() if name in contexts else nullcontext()

    timers, loops = {}, {}
    for name, fn in fns.items():
        with around(name):
            fn()
            timers[name] = timer = timeit.Timer(fn)
            number, i = 1, 0
            while timer.timeit(number) < min_time:
                i += 1
                number = (1, 2, 5)[i % 3] * 10 ** (i // 3)
        loops[name] = number
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, timer in timers.items():
            with around(name):
                best[name] = min(best[name], timer.timeit(loops[name]))
    return {name: (best[name] / loops[name], loops[name]) for name in fns}


def configure_malloc(mode="warm"):
    """Fix glibc malloc's mmap and trim thresholds (see MALLOC_MODES; process-wide and not
    undoable: mallopt turns the dynamic threshold off). Returns what was done."""
    global _malloc_state
    if MALLOC_MODES[mode] is None:
        return _malloc_state
    if platform.libc_ver()[0] != "glibc":
        _malloc_state = "as is (not glibc)"
        return _malloc_state
    mmap_threshold, trim_threshold = MALLOC_MODES[mode]
    libc = ctypes.CDLL(None)
    if libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold) and libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold):
        _malloc_state = (f"{mode} (glibc mallopt: mmap threshold {mmap_threshold >> 10} KiB, "
                         f"trim threshold {trim_threshold >> 10} KiB)")
    else:
        _malloc_state = f"as is (mallopt refused {mode})"
    return _malloc_state


@contextmanager
def single_threaded():
    """torch on one thread and any BLAS/OpenMP pool limited to one thread, restored after."""
    saved = torch.get_num_threads() if torch is not None else None
    limiter = threadpoolctl.threadpool_limits(limits=1) if threadpoolctl is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(1)
        yield
    finally:
        if limiter is not None:
            limiter.restore_original_limits()
        if saved is not None:
            torch.set_num_threads(saved)


def default_threads():
    """[1] plus the number of usable cores when there are more than one."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [1, cores] if cores and cores > 1 else [1]


def openmp_threads(n):
    """Context manager: OpenMP pools (fastsoftmax's) limited to n threads by threadpoolctl.
    Without threadpoolctl only n = 1 is accepted, as a no-op (see fastsoftmax_threads())."""
    if threadpoolctl is not None:
        return threadpoolctl.threadpool_limits(limits=n, user_api="openmp")
    if n != 1:
        raise RuntimeError("timing fastsoftmax on more than one thread needs threadpoolctl "
                           "(pip install threadpoolctl)")
    return nullcontext()


def fastsoftmax_threads():
    """Threads a large fastsoftmax call would use now (None if the build cannot tell)."""
    f = getattr(getattr(fastsoftmax, "_core", None), "max_threads", None)
    return f() if f is not None else None


def _normalize_threads(threads):
    """Sorted thread counts, always with 1 (the targets and the competitors' setting)."""
    threads = default_threads() if threads is None else [int(n) for n in threads]
    if any(n < 1 for n in threads):
        raise ValueError(f"thread counts must be >= 1, got {threads}")
    return sorted(set(threads) | {1})


class ProgressBar:
    """A one-line progress bar on a terminal: call it with a label before each step."""

    def __init__(self, total, stream=None, width=24):
        self.total, self.width, self.stream = max(total, 1), width, stream or sys.stderr
        self.step, self.start = 0, time.monotonic()

    @staticmethod
    def _clock(seconds):
        m, s = divmod(int(seconds + 0.5), 60)
        return f"{m}:{s:02d}"

    def _draw(self, done, label):
        elapsed = time.monotonic() - self.start
        filled = round(self.width * done / self.total)
        eta = (f", ~{self._clock(elapsed / done * (self.total - done))} left"
               if 0 < done < self.total else "")
        line = (f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
                f"{self._clock(elapsed)}{eta}  {label}")
        cols = shutil.get_terminal_size((100, 20)).columns
        self.stream.write("\r" + line[:max(cols - 1, 10)] + "\x1b[K")
        self.stream.flush()

    def __call__(self, label):
        self._draw(self.step, label)
        self.step += 1

    def close(self):
        self._draw(self.step, "done")
        self.stream.write("\n")
        self.stream.flush()


def _normalize_cases(cases, quick):
    """Cases as Case tuples; accepts shapes (axis -1) or (shape, axis) pairs too."""
    if cases is None:
        return [c for c in CASES if not (quick and c.full_only)]
    out = []
    for c in cases:
        if isinstance(c, Case):
            out.append(c)
        elif len(c) == 2 and isinstance(c[0], (tuple, list)):
            out.append(Case(tuple(c[0]), int(c[1]), False))
        else:
            out.append(Case(tuple(c), -1, False))
    return out


def _agrees(func, x, axis):
    """Sanity check (not an accuracy test): fastsoftmax on a slice of x against the NumPy
    composition computed in a wider precision (float64 for float32; long double, where it
    is wider, for float64), so the reference's own rounding does not trip the check."""
    if x.ndim > 1:                          # a few rows (or columns) are enough
        keep = 1 if axis % x.ndim == 0 else 0
        x = np.ascontiguousarray(x[(slice(None),) * keep + (slice(0, 16),)])
    wide = np.float64 if x.dtype == np.float32 else np.longdouble
    ref = _NUMPY[func](x.astype(wide), axis)
    rtol = 1e-5 if x.dtype == np.float32 else 1e-12
    atol = 64 * np.finfo(wide).eps * max(1.0, float(np.abs(x).max()))
    got = np.asarray(getattr(fastsoftmax, func)(x, axis=axis), dtype=wide)
    return bool(np.allclose(got, ref, rtol=rtol, atol=atol, equal_nan=True))


def _competitor_names(competitors):
    names = [n for n in (competitors or available_competitors()) if COMPETITORS.get(n)]
    return ["fastsoftmax"] + [n for n in names if n not in ("fastsoftmax", "memcpy")] + ["memcpy"]


def _time_case(func, x, axis, names, threads, min_time, repeat):
    """One case: fastsoftmax at every thread count and the competitors (1 thread) timed in
    the same rounds; returns one result dict per thread count."""
    fns = {name: COMPETITORS[name](func, x, axis) for name in names}
    contexts = {}
    for n in threads:
        if n != 1:
            key = f"fastsoftmax@{n}"
            fns[key] = COMPETITORS["fastsoftmax"](func, x, axis)
            contexts[key] = lambda n=n: openmp_threads(n)
    timed = time_calls(fns, min_time, repeat, contexts)
    times = {name: t for name, (t, _) in timed.items()}
    one = times["fastsoftmax"]
    agrees = _agrees(func, x, axis)
    reference = fns["fastsoftmax"]() if len(threads) > 1 else None
    out = []
    for n in threads:
        key = "fastsoftmax" if n == 1 else f"fastsoftmax@{n}"
        with openmp_threads(n):
            used = fastsoftmax_threads()
            same = True if n == 1 else bool(np.array_equal(fns[key](), reference, equal_nan=True))
        fast = times[key]
        row_times = {"fastsoftmax": fast, **{k: times[k] for k in names if k != "fastsoftmax"}}
        out.append({
            "function": func,
            "dtype": str(x.dtype),
            "shape": list(x.shape),
            "axis": axis,
            "threads": n,
            "threads_used": used,
            "times_us": {k: v * 1e6 for k, v in row_times.items()},
            "loops": {k: timed[key if k == "fastsoftmax" else k][1] for k in row_times},
            "speedup": {k: times[k] / fast for k in RIVALS if k in times},
            "fastsoftmax_over_memcpy": fast / times["memcpy"],
            "speedup_over_1_thread": one / fast,
            "agrees_with_reference": agrees,
            "same_as_1_thread": same,
        })
    return out


def compare(cases=None, dtypes=DTYPES, functions=FUNCTIONS, repeat=REPEAT, min_time=None,
            quick=False, competitors=None, seed=0, malloc="warm", progress=None, threads=(1,)):
    """Time every (dtype, case, function) against the competitors; returns a list of dicts,
    one per (dtype, case, function, thread count).

    cases: Case tuples, shapes (reduced along axis -1) or (shape, axis) pairs; default
    CASES (less the full-only ones when quick). competitors: names from COMPETITORS
    (fastsoftmax and memcpy are always timed). threads: fastsoftmax's OpenMP thread counts
    (1 is always included; None: default_threads()); the competitors run on one thread.
    malloc: a MALLOC_MODES key, applied to the whole process (configure_malloc). progress:
    optional callable(str), called before each (dtype, case, function).
    """
    configure_malloc(malloc)
    if min_time is None:
        min_time = MIN_TIME_QUICK if quick else MIN_TIME
    names = _competitor_names(competitors)
    threads = _normalize_threads(threads)
    rng = np.random.default_rng(seed)
    results = []
    with single_threaded():
        for dtype in dtypes:
            for case in _normalize_cases(cases, quick):
                x = (rng.standard_normal(case.shape) * 4).astype(dtype)
                for func in functions:
                    if progress:
                        progress(f"{func} {dtype} {_shape(case.shape)} axis={case.axis}")
                    results.extend(_time_case(func, x, case.axis, names, threads,
                                              min_time, repeat))
                del x
                gc.collect()
    return results


def sweep_shapes(lengths=SWEEP_LENGTHS, elements=SWEEP_ELEMENTS):
    """(R, n) for each row length n, R * n ~ elements."""
    return [(max(1, round(elements / n)), n) for n in lengths]


def sweep(lengths=SWEEP_LENGTHS, dtypes=DTYPES, functions=SWEEP_FUNCTIONS, repeat=REPEAT,
          min_time=MIN_TIME, competitors=SWEEP_COMPETITORS, elements=SWEEP_ELEMENTS, seed=1,
          malloc="warm", progress=None):
    """Single-threaded ns per element of (R, n) arrays along the last axis for each row
    length n (R * n ~ elements): fastsoftmax, the competitors and the memcpy floor."""
    configure_malloc(malloc)
    names = _competitor_names(competitors)
    rng = np.random.default_rng(seed)
    results = []
    with single_threaded():
        for dtype in dtypes:
            for shape in sweep_shapes(lengths, elements):
                x = (rng.standard_normal(shape) * 4).astype(dtype)
                for func in functions:
                    if progress:
                        progress(f"sweep {func} {dtype} {_shape(shape)}")
                    r, = _time_case(func, x, -1, names, [1], min_time, repeat)
                    r["row_length"], r["rows"], r["elements"] = shape[1], shape[0], x.size
                    r["ns_per_element"] = {k: v * 1e3 / x.size for k, v in r["times_us"].items()}
                    results.append(r)
                del x
                gc.collect()
    return results


def keyword_costs(repeat=REPEAT, min_time=MIN_TIME):
    """[{function, keyword, plain_us, keyword_us, ratio, limit, status}] on KEYWORD_SHAPE,
    fastsoftmax on 1 thread; plain and keyword calls timed in the same rounds."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(KEYWORD_SHAPE).astype(KEYWORD_DTYPE)
    rows = []
    with openmp_threads(1):
        for kw in KEYWORDS:
            f = getattr(fastsoftmax, kw.function)
            kwargs = kw.kwargs(x, rng)
            t = time_calls({"plain": lambda: f(x, axis=-1), "keyword": lambda: f(x, axis=-1, **kwargs)},
                           min_time=min_time, repeat=repeat)
            ratio = t["keyword"][0] / t["plain"][0]
            status = "-" if kw.limit is None else ("PASS" if ratio <= kw.limit else "MISS")
            rows.append({"function": kw.function, "keyword": kw.label, "shape": list(KEYWORD_SHAPE),
                         "dtype": KEYWORD_DTYPE, "plain_us": t["plain"][0] * 1e6,
                         "keyword_us": t["keyword"][0] * 1e6, "ratio": ratio, "limit": kw.limit,
                         "status": status})
    return rows


# Out of cache (issue 5): softmax into a preallocated out= against np.copyto of the same
# bytes (the memory-bandwidth floor), fastsoftmax on each thread count
OUT_OF_CACHE_SHAPE, OUT_OF_CACHE_LIMIT = (4096, 4096), 1.3


def out_of_cache(threads=(1,), repeat=REPEAT, min_time=MIN_TIME, dtype="float32"):
    """[{function, threads, fastsoftmax_us, memcpy_us, over_memcpy, limit, status}]."""
    rng = np.random.default_rng(0)
    x = (rng.standard_normal(OUT_OF_CACHE_SHAPE) * 4).astype(dtype)
    out = np.empty_like(x)
    rows = []
    for n in _normalize_threads(threads):
        for func in ("softmax", "log_softmax", "logsumexp"):
            f = getattr(fastsoftmax, func)
            call = (lambda: f(x, axis=-1)) if func == "logsumexp" else (lambda: f(x, axis=-1, out=out))
            with openmp_threads(n):
                t = time_calls({"fastsoftmax": call, "memcpy": lambda: np.copyto(out, x)},
                               min_time=min_time, repeat=repeat)
            ratio = t["fastsoftmax"][0] / t["memcpy"][0]
            limit = OUT_OF_CACHE_LIMIT if func == "softmax" else None
            rows.append({"function": func, "shape": list(OUT_OF_CACHE_SHAPE), "dtype": dtype,
                         "threads": n, "out": func != "logsumexp",
                         "fastsoftmax_us": t["fastsoftmax"][0] * 1e6, "memcpy_us": t["memcpy"][0] * 1e6,
                         "over_memcpy": ratio, "limit": limit,
                         "status": "-" if limit is None else ("PASS" if ratio <= limit else "MISS")})
    return rows


# Non-last axes (issue 5): along axis 0 of a C-contiguous array against the same work along
# the last axis of its transposed contiguous copy (both fastsoftmax, 1 thread), and against
# torch along the same axis
NON_LAST_SHAPE, NON_LAST_LIMIT, NON_LAST_TORCH = (1000, 4096), 1.5, 2.5


def non_last_axis(repeat=REPEAT, min_time=MIN_TIME, dtypes=("float32",)):
    """[{function, dtype, axis0_us, transposed_us, over_transposed, limit, torch_us, vs_torch,
    torch_need, status}] for NON_LAST_SHAPE along axis 0."""
    rng = np.random.default_rng(0)
    rows = []
    for dtype in dtypes:
        x = (rng.standard_normal(NON_LAST_SHAPE) * 4).astype(dtype)
        xt = np.ascontiguousarray(x.T)
        out, out_t = np.empty_like(x), np.empty_like(xt)
        for func in ("softmax", "log_softmax", "logsumexp"):
            f = getattr(fastsoftmax, func)
            if func == "logsumexp":
                calls = {"axis0": lambda: f(x, axis=0), "transposed": lambda: f(xt, axis=-1)}
            else:
                calls = {"axis0": lambda: f(x, axis=0, out=out), "transposed": lambda: f(xt, axis=-1, out=out_t)}
            if torch is not None:
                calls["torch"] = _bind_torch(func, x, 0)
            with single_threaded(), openmp_threads(1):
                t = time_calls(calls, min_time=min_time, repeat=repeat)
            over = t["axis0"][0] / t["transposed"][0]
            vs_torch = t["torch"][0] / t["axis0"][0] if "torch" in t else None
            limit = NON_LAST_LIMIT if func == "softmax" and dtype == "float32" else None
            torch_need = NON_LAST_TORCH if limit is not None else None
            ok = limit is None or (over <= limit and (vs_torch is None or vs_torch >= torch_need))
            rows.append({"function": func, "shape": list(NON_LAST_SHAPE), "dtype": dtype,
                         "axis0_us": t["axis0"][0] * 1e6, "transposed_us": t["transposed"][0] * 1e6,
                         "over_transposed": over, "limit": limit,
                         "torch_us": t["torch"][0] * 1e6 if "torch" in t else None,
                         "vs_torch": vs_torch, "torch_need": torch_need,
                         "status": "-" if limit is None else ("PASS" if ok else "MISS")})
    return rows


def format_non_last_axis(rows):
    header = ["function", "dtype", "axis 0 µs", "transposed, last axis µs", "ratio", "need",
              "torch axis 0 µs", "torch / ours", "need", "status"]
    body = [[r["function"], r["dtype"], f"{r['axis0_us']:,.0f}", f"{r['transposed_us']:,.0f}",
             f"{r['over_transposed']:.2f}x", "-" if r["limit"] is None else f"<= {r['limit']:g}x",
             "-" if r["torch_us"] is None else f"{r['torch_us']:,.0f}",
             "-" if r["vs_torch"] is None else f"{r['vs_torch']:.2f}x",
             "-" if r["torch_need"] is None else f">= {r['torch_need']:g}x", r["status"]]
            for r in rows]
    return _markdown(header, body, right_from=2)


def format_out_of_cache(rows):
    header = ["function", "threads", "fastsoftmax µs", "np.copyto µs", "/ memcpy", "need", "status"]
    body = [[r["function"] + (" (out=)" if r["out"] else ""), str(r["threads"]),
             f"{r['fastsoftmax_us']:,.0f}", f"{r['memcpy_us']:,.0f}", f"{r['over_memcpy']:.2f}x",
             "-" if r["limit"] is None else f"<= {r['limit']:g}x", r["status"]] for r in rows]
    return _markdown(header, body, right_from=1)


def format_keyword_costs(rows):
    header = ["function", "keyword", "plain µs", "with keyword µs", "ratio", "need", "status"]
    body = [[r["function"], r["keyword"], f"{r['plain_us']:.1f}", f"{r['keyword_us']:.1f}",
             f"{r['ratio']:.2f}x", "-" if r["limit"] is None else f"<= {r['limit']:g}x", r["status"]]
            for r in rows]
    return _markdown(header, body, right_from=2)


def evaluate_targets(results, targets=TARGETS):
    """Each target with the measured ratio and PASS / MISS (n/a when not measured)."""
    out = []
    for t in targets:
        hit = next((r for r in results if r["function"] == t.function and r["dtype"] == t.dtype
                    and tuple(r["shape"]) == t.shape and r["axis"] == t.axis
                    and r.get("threads", 1) == 1), None)
        ratio = hit["speedup"].get(t.competitor) if hit else None
        status = "n/a" if ratio is None else ("PASS" if ratio >= t.ratio else "MISS")
        out.append({**t._asdict(), "shape": list(t.shape), "measured": ratio, "status": status})
    return out


# --- environment ---------------------------------------------------------------------------

def _cpu_model():
    """The CPU's name, with its x86 family and model where /proc/cpuinfo has them: hosts that
    call themselves "AMD EPYC" may be Zen 3 (family 25 model 1) or Zen 4 (model 17)."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:  # the first of each field: arm64 puts "Hardware" after the cores
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = next((fields[k] for k in ("model name", "Model", "Hardware") if k in fields), None)
    if name is None:
        return platform.processor() or platform.machine()
    if "cpu family" in fields and "model" in fields:
        name += f" (family {fields['cpu family']} model {fields['model']})"
    return name


def environment():
    """Versions, CPU, the active kernel path and the thread settings in force while timing."""
    config = fastsoftmax.show_config(print_=False)
    env = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "scipy": scipy.__version__ if scipy is not None else None,
        "torch": torch.__version__ if torch is not None else None,
        "cpu": _cpu_model(),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "fastsoftmax": config["version"],
        "isa_active": config["active"],
        "isa_supported": config["supported"],
        "isa_compiled": config["compiled"],
        "malloc": _malloc_state,
        "fastsoftmax_threads_default": fastsoftmax_threads(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                  "MKL_NUM_THREADS", "FASTSOFTMAX_ISA")
                       if k in os.environ},
    }
    with single_threaded():
        env["torch_threads"] = torch.get_num_threads() if torch is not None else None
        env["threadpools"] = ([{"api": p["internal_api"], "threads": p["num_threads"],
                                "library": os.path.basename(p["filepath"])}
                               for p in threadpoolctl.threadpool_info()]
                              if threadpoolctl is not None else None)
    return env


def format_environment(env):
    pools = env["threadpools"]
    pools = ("threadpoolctl not installed" if pools is None else
             ", ".join(f"{p['library']} ({p['api']}) = {p['threads']}" for p in pools) or "none loaded")
    cores = f"{env['cores']}" + (f" ({env['cores_usable']} usable)" if env["cores_usable"] not in
                                 (None, env["cores"]) else "")
    rows = [
        ("Python", f"{env['python']} ({env['implementation']})"),
        ("NumPy", env["numpy"]),
        ("SciPy", env["scipy"] or "not installed"),
        ("torch", env["torch"] or "not installed (columns skipped)"),
        ("CPU", f"{env['cpu']} [{env['machine']}]"),
        ("cores", cores + ("" if env["load_average"] is None else
                           "; load average " + " ".join(f"{v:.2f}" for v in env["load_average"]))),
        ("platform", env["platform"]),
        ("fastsoftmax", f"{env['fastsoftmax']}, ISA path {env['isa_active']} "
                        f"(supported: {', '.join(env['isa_supported'])})"),
        ("threads", ("" if env["torch_threads"] is None else f"torch = {env['torch_threads']}; ")
                    + f"pools: {pools}"
                    + ("" if env.get("fastsoftmax_threads_default") is None else
                       f"; fastsoftmax unlimited = {env['fastsoftmax_threads_default']}")
                    + "".join(f"; {k}={v}" for k, v in env["thread_env"].items())),
        ("malloc", env["malloc"]),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in rows)


# --- tables --------------------------------------------------------------------------------

def _us(v):
    return "-" if v is None else (f"{v:,.2f}" if v < 10 else f"{v:,.1f}" if v < 1000 else f"{v:,.0f}")


def _shape(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _ratio(v):
    return "-" if v is None else (f"{v:.2f}x" if v < 10 else f"{v:.1f}x")


def _markdown(header, rows, right_from):
    """Aligned markdown table; columns from index right_from on are right-aligned."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).rjust(w) if i >= right_from else str(c).ljust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths, strict=True))) + " |"

    rule = "|" + "|".join("-" * (w + 1) + ":" if i >= right_from else "-" * (w + 2)
                          for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in rows])


def _flags(r):
    return (("" if r["agrees_with_reference"] else " (!)")
            + ("" if r.get("same_as_1_thread", True) else " (≠)"))


def _footnotes(results):
    out = []
    if not all(r["agrees_with_reference"] for r in results):
        out.append("(!) fastsoftmax's result differs from the wide-precision reference on this case.")
    if not all(r.get("same_as_1_thread", True) for r in results):
        out.append("(≠) fastsoftmax's result on this many threads is not bitwise identical to "
                   "its 1-thread result.")
    return out


def format_tables(results):
    """One markdown table per function; a row per case and fastsoftmax thread count (the
    competitors' times are their 1-thread times, measured in the same rounds)."""
    rivals = [k for k in RIVALS if any(k in r["speedup"] for r in results)]
    multi = any(r.get("threads", 1) != 1 for r in results)
    header = (["dtype", "shape", "axis", "threads", "fastsoftmax µs"]
              + [f"{k} µs" for k in rivals] + ["memcpy µs"] + [f"vs {k}" for k in rivals] + ["/ memcpy"]
              + (["vs 1 thread"] if multi else []))
    out = []
    for func in dict.fromkeys(r["function"] for r in results):
        rows = []
        for r in (r for r in results if r["function"] == func):
            t = r["times_us"]
            n = r.get("threads", 1)
            used = r.get("threads_used")
            threads = str(n) + (f" ({used})" if used not in (None, n) else "")
            rows.append([r["dtype"], _shape(r["shape"]), str(r["axis"]), threads,
                         _us(t["fastsoftmax"]) + _flags(r)]
                        + [_us(t.get(k)) for k in rivals] + [_us(t["memcpy"])]
                        + [_ratio(r["speedup"].get(k)) for k in rivals]
                        + [_ratio(r["fastsoftmax_over_memcpy"])]
                        + ([_ratio(r.get("speedup_over_1_thread"))] if multi else []))
        out.append(f"### {func}\n\n" + _markdown(header, rows, right_from=3))
    return "\n\n".join(out + _footnotes(results))


def _ns(v):
    return "-" if v is None else (f"{v:.3f}" if v < 1 else f"{v:.2f}" if v < 100 else f"{v:,.0f}")


def format_sweep(results):
    """The row-length sweep as one markdown table: ns per element."""
    rivals = [k for k in RIVALS if any(k in r["speedup"] for r in results)]
    header = (["function", "dtype", "n", "rows", "fastsoftmax ns/el"]
              + [f"{k} ns/el" for k in rivals] + ["memcpy ns/el"]
              + [f"vs {k}" for k in rivals] + ["/ memcpy"])
    rows = []
    for r in results:
        ns = r["ns_per_element"]
        rows.append([r["function"], r["dtype"], str(r["row_length"]), str(r["rows"]),
                     _ns(ns["fastsoftmax"]) + _flags(r)]
                    + [_ns(ns.get(k)) for k in rivals] + [_ns(ns["memcpy"])]
                    + [_ratio(r["speedup"].get(k)) for k in rivals]
                    + [_ratio(r["fastsoftmax_over_memcpy"])])
    return "\n\n".join([_markdown(header, rows, right_from=2)] + _footnotes(results))


def format_targets(evaluated):
    header = ["target", "dtype", "shape", "need", "measured", "status"]
    rows = [[f"{t['function']} vs {t['competitor']}", t["dtype"],
             _shape(t["shape"]),
             f">= {t['ratio']:g}x", _ratio(t["measured"]), t["status"]] for t in evaluated]
    return _markdown(header, rows, right_from=3)


# --- CLI -----------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help=f"skip the largest shape; loops of >= {MIN_TIME_QUICK} s "
                         f"instead of {MIN_TIME} s")
    ap.add_argument("--json", metavar="PATH", help="also write every figure as JSON to PATH")
    ap.add_argument("--functions", nargs="+", choices=FUNCTIONS, default=list(FUNCTIONS))
    ap.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES))
    ap.add_argument("--repeat", type=int, default=REPEAT,
                    help="rounds; each competitor keeps its fastest loop")
    ap.add_argument("--malloc", choices=list(MALLOC_MODES), default="warm",
                    help="fix glibc malloc's thresholds so that timings do not depend on the "
                         "process's history (warm, the default: no page faults for blocks up "
                         "to 32 MiB; cold: page faults for every block >= 128 KiB; asis)")
    ap.add_argument("--min-time", type=float, default=None,
                    help="seconds one loop must last at least (overrides --quick's)")
    ap.add_argument("--threads", nargs="+", type=int, default=None, metavar="N",
                    help="fastsoftmax's OpenMP thread counts (threadpoolctl limit; 1 is always "
                         "included; the competitors stay on 1 thread). Default: "
                         + " ".join(map(str, default_threads())) + " (1 and the usable cores)")
    ap.add_argument("--sweep", action="store_true",
                    help="also time (R, n) arrays along the last axis for n = "
                         + ", ".join(map(str, SWEEP_LENGTHS)) + " (R * n ~ 2^20; "
                         + ", ".join(SWEEP_FUNCTIONS) + " among --functions; 1 thread; "
                         "fastsoftmax, " + ", ".join(SWEEP_COMPETITORS) + " and memcpy)")
    ap.add_argument("--no-progress", action="store_true",
                    help="no progress bar on stderr (there is none when stderr is not a terminal)")
    args = ap.parse_args(argv)
    try:
        threads = _normalize_threads(args.threads)
    except ValueError as e:
        ap.error(str(e))
    if threads != [1] and threadpoolctl is None:
        ap.error("--threads above 1 needs threadpoolctl (pip install threadpoolctl)")
    sweep_functions = [f for f in SWEEP_FUNCTIONS if f in args.functions]

    configure_malloc(args.malloc)
    env = environment()
    print("## Environment\n")
    print(format_environment(env))
    print()
    min_time = args.min_time or (MIN_TIME_QUICK if args.quick else MIN_TIME)
    print(f"Times: one warm-up call, then the minimum of {args.repeat} rounds; in each round every "
          f"competitor runs one loop of >= {min_time} s.")
    print("vs X = X's time / fastsoftmax's time (> 1: fastsoftmax faster). "
          "/ memcpy = fastsoftmax's time / np.copyto(dst, x)")
    print("of the same input (one read + one write of its bytes; the floor used for all three "
          "functions, though logsumexp writes far less).")
    print(f"Competitors: {', '.join(available_competitors())}; single-threaded "
          "(torch.set_num_threads(1), BLAS/OpenMP pools limited to 1 by threadpoolctl).")
    print(f"fastsoftmax threads: {', '.join(map(str, threads))} (threadpoolctl "
          "threadpool_limits(limits=N, user_api=\"openmp\")); vs X compares fastsoftmax on N "
          "threads with X on 1;")
    print("vs 1 thread = fastsoftmax's 1-thread time / its N-thread time. Inputs below "
          "32768 elements run on one thread whatever N.\n", flush=True)

    n_cases = len(_normalize_cases(None, args.quick))
    total = len(args.dtypes) * n_cases * len(args.functions)
    if args.sweep:
        total += len(args.dtypes) * len(SWEEP_LENGTHS) * len(sweep_functions)
    bar = (ProgressBar(total) if sys.stderr.isatty() and not args.no_progress else None)
    try:
        results = compare(dtypes=args.dtypes, functions=args.functions, repeat=args.repeat,
                          min_time=min_time, quick=args.quick, malloc=args.malloc,
                          progress=bar, threads=threads)
        swept = (sweep(dtypes=args.dtypes, functions=sweep_functions, repeat=args.repeat,
                       min_time=min_time, malloc=args.malloc, progress=bar)
                 if args.sweep else None)
    finally:
        if bar is not None:
            bar.close()
    print("## Results\n")
    print(format_tables(results))
    if swept is not None:
        print(f"\n## Sweep: row length\n\n(R, n) arrays along the last axis, R * n ~ 2^20 "
              f"elements; times in ns per element; everything on 1 thread.\n")
        print(format_sweep(swept))
    keywords = keyword_costs(repeat=args.repeat, min_time=min_time)
    print(f"\n## Keyword costs\n\n{KEYWORD_SHAPE} {KEYWORD_DTYPE}, last axis, fastsoftmax on 1 thread: "
          "the call with the keyword against the plain call.\n")
    print(format_keyword_costs(keywords))
    outcache = None
    if not args.quick:
        outcache = out_of_cache(threads=threads, repeat=args.repeat, min_time=min_time)
        print(f"\n## Out of cache\n\n{OUT_OF_CACHE_SHAPE} float32 along the last axis (64 MiB): "
              "softmax and log_softmax into a preallocated out=, against np.copyto of the same "
              "bytes.\n")
        print(format_out_of_cache(outcache))
    nonlast = non_last_axis(repeat=args.repeat, min_time=min_time, dtypes=args.dtypes)
    print(f"\n## Non-last axis\n\n{NON_LAST_SHAPE} along axis 0 against the same work along the "
          "last axis of the transposed contiguous copy (fastsoftmax, 1 thread; softmax and "
          "log_softmax into a preallocated out=), and against torch along axis 0.\n")
    print(format_non_last_axis(nonlast))
    targets = evaluate_targets(results)
    print("\n## Targets\n")
    print(format_targets(targets))
    counts = {s: sum(t["status"] == s for t in targets) for s in ("PASS", "MISS", "n/a")}
    print(f"\n{counts['PASS']} PASS, {counts['MISS']} MISS, {counts['n/a']} n/a")
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    if load is not None:
        print(f"load average at the end: {' '.join(f'{v:.2f}' for v in load)} "
              f"(on {env['cores']} cores; above 1, other work ran beside this one)")
        if max(threads) > 1 and load[0] > (env["cores"] or 1) - max(threads) + 1.5:
            print(f"warning: the {max(threads)}-thread rows need that many idle cores; with "
                  "other work on them, OpenMP's threads wait for one another and those rows "
                  "can be many times slower than 1 thread: rerun on an idle machine.")

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env,
                       "settings": {"quick": args.quick, "repeat": args.repeat,
                                    "min_time": min_time, "load_average_at_end": load,
                                    "floor": "np.copyto(dst, x) of the input",
                                    "malloc": args.malloc, "threads": threads,
                                    "sweep": args.sweep},
                       "cases": results, "targets": targets, "keyword_costs": keywords,
                       "out_of_cache": outcache, "non_last_axis": nonlast,
                       **({"sweep": swept} if swept is not None else {})}, f, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
