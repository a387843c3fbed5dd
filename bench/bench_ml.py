"""Benchmark fastsoftmax.cross_entropy (integer targets) against
torch.nn.functional.cross_entropy, with and without the gradient, on 1 thread and more.

    python bench/bench_ml.py [--quick] [--shape 4096 1000] [--dtypes float32 float64]
                             [--threads N ...] [--repeat 5]

Same method as bench/bench.py (whose timing helpers it uses): every competitor runs in this
process on the same arrays; each figure is the fastest of `repeat` rounds of timeit loops,
the rounds interleaving the competitors so that load from elsewhere hits all alike.
Ratio = competitor time / fastsoftmax time (> 1: fastsoftmax is faster).

  loss       fastsoftmax: cross_entropy(x, t)
             torch:       F.cross_entropy(xt, tt) on torch.from_numpy(x) (no copy), no autograd
             numpy:       the textbook composition, m + log(sum(exp(x - m))) - x[t], mean
             floor:       fastsoftmax.logsumexp(x, axis=-1): the max and exp-and-sum passes
                          of the exact kernels alone (the loss's own pass rounds x - max,
                          row_expsum_ml in csrc/fsm.h, and costs about a quarter less)
  loss+grad  fastsoftmax: cross_entropy(x, t, return_grad=True), one pass per row
             torch:       the same forward with requires_grad, then loss.backward()
                          (log_softmax forward, nll, nll backward, log_softmax backward)
             floor:       fastsoftmax.softmax(x, axis=-1): the same passes and the same write
                          on the exact kernels (softmax needs no count of the max terms)
  memcpy     np.copyto of x: one read and one write of the logits
  vjp, bce   softmax_grad(y, g) and log_softmax_grad(logp, g) against torch's backward
             kernels (_softmax_backward_data, _log_softmax_backward_data), and
             binary_cross_entropy_with_logits(x, t) against torch's, on one thread

Threads: each count n in `--threads` (default 1 and the usable cores) gives one row per case,
fastsoftmax limited to n OpenMP threads (threadpoolctl) and torch to n
(torch.set_num_threads), timed in the same rounds. "torch/fs" compares the two at the same
count; "torch(1)/fs" compares with torch on one thread, the setting of the issue's target.
numpy, memcpy and torch(1) always run on one thread. A row whose fastsoftmax result is not
bitwise the one of 1 thread is flagged (≠).
"""
import argparse
import os
import sys
from contextlib import ExitStack, contextmanager

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (_normalize_threads, configure_malloc, environment,  # noqa: E402
                   format_environment, openmp_threads, single_threaded, time_calls)

import fastsoftmax  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch columns are skipped without it
    torch = None


def _np_cross_entropy(x, t):
    m = x.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(x - m).sum(axis=1))
    return np.mean(lse - np.take_along_axis(x, t[:, None], axis=1)[:, 0])


@contextmanager
def _torch_threads(n):
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def _on(n, library):
    """Context-manager factory: `library` ("fastsoftmax" or "torch") on n threads."""
    def enter():
        stack = ExitStack()
        stack.enter_context(openmp_threads(n))
        if library == "torch":
            stack.enter_context(_torch_threads(n))
        return stack
    return enter


def _fastsoftmax(x, t, grad):
    if grad:
        return lambda: fastsoftmax.cross_entropy(x, t, return_grad=True)
    return lambda: fastsoftmax.cross_entropy(x, t)


def _torch(x, t, grad):
    tt = torch.from_numpy(t)
    if not grad:
        xt = torch.from_numpy(x)
        return lambda: F.cross_entropy(xt, tt)
    xg = torch.from_numpy(x.copy()).requires_grad_(True)

    def torch_grad():
        xg.grad = None
        F.cross_entropy(xg, tt).backward()
        return xg.grad
    return torch_grad


def competitors(x, t, grad, threads):
    """{name: callable} and {name: context factory} for one case: fastsoftmax, its floor and
    torch at every thread count n (names suffixed @n), numpy and memcpy on one thread."""
    fns, contexts = {}, {}
    for n in threads:
        fns[f"fastsoftmax@{n}"] = _fastsoftmax(x, t, grad)
        contexts[f"fastsoftmax@{n}"] = _on(n, "fastsoftmax")
        if grad:
            fns[f"floor@{n}"] = lambda: fastsoftmax.softmax(x, axis=-1)
        else:
            fns[f"floor@{n}"] = lambda: fastsoftmax.logsumexp(x, axis=-1)
        contexts[f"floor@{n}"] = _on(n, "fastsoftmax")
        if torch is not None:
            fns[f"torch@{n}"] = _torch(x, t, grad)
            contexts[f"torch@{n}"] = _on(n, "torch")
    if not grad:
        fns["numpy"] = lambda: _np_cross_entropy(x, t)
    dst = np.empty_like(x)
    fns["memcpy"] = lambda: np.copyto(dst, x)
    return fns, contexts


def check(x, t):
    """Sanity check against torch (not an accuracy test)."""
    if torch is None:
        return "torch n/a"
    loss, grad = fastsoftmax.cross_entropy(x, t, return_grad=True)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    ref = F.cross_entropy(xt, torch.from_numpy(t))
    ref.backward()
    ok = (np.isclose(loss, ref.item(), rtol=1e-5)
          and np.allclose(grad, xt.grad.numpy(), rtol=1e-4, atol=1e-9))
    return "agrees with torch" if ok else "DISAGREES with torch"


def _same_as_one_thread(x, t, grad, n):
    """fastsoftmax's result on n threads is bitwise the one of 1 thread."""
    with openmp_threads(1):
        one = fastsoftmax.cross_entropy(x, t, return_grad=grad)
    with openmp_threads(n):
        many = fastsoftmax.cross_entropy(x, t, return_grad=grad)
    pairs = zip(one, many) if grad else [(one, many)]
    return all(np.array_equal(a, b, equal_nan=True) for a, b in pairs)


def other_rows(x, g, tb, quick, repeat):
    """softmax_grad / log_softmax_grad against torch's backward kernels
    (torch._softmax_backward_data / _log_softmax_backward_data), and
    binary_cross_entropy_with_logits (mean) against torch's, all on one thread and the same
    arrays; memcpy as above."""
    y = fastsoftmax.softmax(x, axis=-1)
    lp = fastsoftmax.log_softmax(x, axis=-1)
    fns = {"softmax_grad": lambda: fastsoftmax.softmax_grad(y, g),
           "log_softmax_grad": lambda: fastsoftmax.log_softmax_grad(lp, g),
           "bce_with_logits": lambda: fastsoftmax.binary_cross_entropy_with_logits(x, tb)}
    if torch is not None:
        ty, tlp, tg = torch.from_numpy(y), torch.from_numpy(lp), torch.from_numpy(g)
        tx, ttb = torch.from_numpy(x), torch.from_numpy(tb)
        fns["torch softmax_grad"] = lambda: torch._softmax_backward_data(tg, ty, -1, ty.dtype)
        fns["torch log_softmax_grad"] = lambda: torch._log_softmax_backward_data(tg, tlp, -1, tlp.dtype)
        fns["torch bce_with_logits"] = lambda: F.binary_cross_entropy_with_logits(tx, ttb)
    dst = np.empty_like(x)
    fns["memcpy"] = lambda: np.copyto(dst, x)
    contexts = {name: _on(1, "torch" if name.startswith("torch") else "fastsoftmax") for name in fns}
    timed = time_calls(fns, 0.01 if quick else 0.05, repeat, contexts)
    return {k: v for k, (v, _) in timed.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter loops (0.01 s)")
    ap.add_argument("--shape", nargs=2, type=int, default=[4096, 1000], metavar=("ROWS", "CLASSES"))
    ap.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], default=["float32"])
    ap.add_argument("--threads", nargs="+", type=int, default=None, metavar="N",
                    help="thread counts (1 is always included; default: 1 and the usable cores)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    threads = _normalize_threads(args.threads)
    configure_malloc("warm")
    print(format_environment(environment()))
    print()
    rows, classes = args.shape
    rng = np.random.default_rng(0)
    print(f"cross_entropy, integer targets, mean reduction ({'quick' if args.quick else 'full'}); "
          f"fastsoftmax and torch on the thread count of the row, numpy and memcpy on one")
    print()
    print("| dtype | shape | case | threads | fastsoftmax | floor | torch | torch(1) | numpy | memcpy "
          "| torch/fs | torch(1)/fs | numpy/fs | fs/floor | fs/memcpy |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    with single_threaded():
        for dtype in args.dtypes:
            x = (4 * rng.standard_normal((rows, classes))).astype(dtype)
            t = rng.integers(0, classes, rows)
            notes.append(f"{dtype}: {check(x, t)}")
            for grad in (False, True):
                fns, contexts = competitors(x, t, grad, threads)
                timed = time_calls(fns, 0.01 if args.quick else 0.05, args.repeat, contexts)
                times = {k: v for k, (v, _) in timed.items()}
                for n in threads:
                    fs_t = times[f"fastsoftmax@{n}"]

                    def ms(name):
                        return f"{times[name] * 1e3:.3f} ms" if name in times else "n/a"

                    def ratio(name):
                        return f"{times[name] / fs_t:.2f}x" if name in times else "n/a"
                    flag = "" if n == 1 or _same_as_one_thread(x, t, grad, n) else " (≠)"
                    print(f"| {dtype} | ({rows}, {classes}) | {'loss+grad' if grad else 'loss'} | "
                          f"{n}{flag} | {ms(f'fastsoftmax@{n}')} | {ms(f'floor@{n}')} | "
                          f"{ms(f'torch@{n}')} | {ms('torch@1')} | {ms('numpy')} | {ms('memcpy')} | "
                          f"{ratio(f'torch@{n}')} | {ratio('torch@1')} | {ratio('numpy')} | "
                          f"{fs_t / times[f'floor@{n}']:.2f} | {fs_t / times['memcpy']:.2f} |")
    print()
    for note in notes:
        print(note)
    print()
    print("softmax_grad / log_softmax_grad (vector-Jacobian products given the forward output) "
          "against torch's backward kernels, and binary_cross_entropy_with_logits (mean, targets "
          "0/1) against torch's, 1 thread")
    print()
    print("| dtype | shape | function | fastsoftmax | torch(1) | torch/fs | memcpy | fs/memcpy |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    with single_threaded():
        for dtype in args.dtypes:
            x = (4 * rng.standard_normal((rows, classes))).astype(dtype)
            g = rng.standard_normal((rows, classes)).astype(dtype)
            tb = (rng.random((rows, classes)) < 0.3).astype(dtype)
            times = other_rows(x, g, tb, args.quick, args.repeat)
            for func in ("softmax_grad", "log_softmax_grad", "bce_with_logits"):
                fs_t, th = times[func], times.get(f"torch {func}")
                print(f"| {dtype} | ({rows}, {classes}) | {func} | {fs_t * 1e3:.3f} ms | "
                      + (f"{th * 1e3:.3f} ms | {th / fs_t:.2f}x" if th else "n/a | n/a")
                      + f" | {times['memcpy'] * 1e3:.3f} ms | {fs_t / times['memcpy']:.2f} |")


if __name__ == "__main__":
    main()
