"""Benchmark fastsoftmax.cross_entropy (integer targets) against
torch.nn.functional.cross_entropy on one thread, with and without the gradient.

    python bench/bench_ml.py [--quick] [--shape 4096 1000] [--dtypes float32 float64]

Same method as bench/bench.py (whose timing helpers it uses): every competitor runs in this
process on the same arrays; each figure is the fastest of 5 rounds of timeit loops, the
rounds interleaving the competitors. Ratio = competitor time / fastsoftmax time (> 1:
fastsoftmax is faster).

  loss       fastsoftmax: cross_entropy(x, t)
             torch:       F.cross_entropy(xt, tt) on torch.from_numpy(x) (no copy), no autograd
             numpy:       the textbook composition, m + log(sum(exp(x - m))) - x[t], mean
  loss+grad  fastsoftmax: cross_entropy(x, t, return_grad=True), one pass per row
             torch:       the same forward with requires_grad, then loss.backward()
                          (log_softmax forward, nll, nll backward, log_softmax backward)
  memcpy     np.copyto of x: one read and one write of the logits, the floor of loss+grad
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (configure_malloc, environment, format_environment,  # noqa: E402
                   single_threaded, time_calls)

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


def competitors(x, t, grad):
    fns = {}
    if grad:
        fns["fastsoftmax"] = lambda: fastsoftmax.cross_entropy(x, t, return_grad=True)
    else:
        fns["fastsoftmax"] = lambda: fastsoftmax.cross_entropy(x, t)
    if torch is not None:
        tt = torch.from_numpy(t)
        if grad:
            xt = torch.from_numpy(x.copy()).requires_grad_(True)

            def torch_grad():
                xt.grad = None
                F.cross_entropy(xt, tt).backward()
                return xt.grad
            fns["torch"] = torch_grad
        else:
            xt = torch.from_numpy(x)
            fns["torch"] = lambda: F.cross_entropy(xt, tt)
    if not grad:
        fns["numpy"] = lambda: _np_cross_entropy(x, t)
    dst = np.empty_like(x)
    fns["memcpy"] = lambda: np.copyto(dst, x)
    return fns


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter loops (0.01 s)")
    ap.add_argument("--shape", nargs=2, type=int, default=[4096, 1000], metavar=("ROWS", "CLASSES"))
    ap.add_argument("--dtypes", nargs="+", choices=["float32", "float64"], default=["float32"])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    configure_malloc("warm")
    print(format_environment(environment()))
    print()
    rows, classes = args.shape
    rng = np.random.default_rng(0)
    header = ("| dtype | shape | case | fastsoftmax | torch | numpy | memcpy | torch / fs | "
              "numpy / fs | fs / memcpy |")
    print(f"cross_entropy, integer targets, mean reduction, one thread ({'quick' if args.quick else 'full'})")
    print()
    print(header)
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    with single_threaded():
        for dtype in args.dtypes:
            x = (4 * rng.standard_normal((rows, classes))).astype(dtype)
            t = rng.integers(0, classes, rows)
            notes.append(f"{dtype}: {check(x, t)}")
            for grad in (False, True):
                timed = time_calls(competitors(x, t, grad), 0.01 if args.quick else 0.05, args.repeat)
                times = {k: v for k, (v, _) in timed.items()}
                fs_t = times["fastsoftmax"]

                def ms(name):
                    return f"{times[name] * 1e3:.3f} ms" if name in times else "n/a"

                def ratio(name):
                    return f"{times[name] / fs_t:.2f}x" if name in times else "n/a"
                print(f"| {dtype} | ({rows}, {classes}) | {'loss+grad' if grad else 'loss'} | "
                      f"{ms('fastsoftmax')} | {ms('torch')} | {ms('numpy')} | {ms('memcpy')} | "
                      f"{ratio('torch')} | {ratio('numpy')} | {fs_t / times['memcpy']:.2f} |")
    print()
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
