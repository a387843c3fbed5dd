"""python -m fastsoftmax: the seed's worked example, the code path in use, and a short
speed comparison against the NumPy composition on this machine."""
import argparse
import timeit

import numpy as np

from . import log_softmax, logsumexp, show_config, softmax


def _numpy_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _best_time(fn, min_seconds=0.05):
    timer = timeit.Timer(fn)
    number, _ = timer.autorange()
    number = max(1, int(number * min_seconds / 0.2))
    return min(timer.repeat(repeat=5, number=number)) / number


def demo(quick=False):
    logits = np.array([1.5, 0.8, -0.2])
    print("Worked example (softmax of the logits of a 3-class classifier):")
    print(f"  logits                {logits.tolist()}")
    print(f"  softmax               {np.round(softmax(logits), 4).tolist()}"
          "  (the note's [0.596, 0.296, 0.109] rounds e^x first)")
    print(f"  log_softmax           {np.round(log_softmax(logits), 4).tolist()}")
    print(f"  logsumexp             {logsumexp(logits):.4f}")
    print(f"  log_softmax([0, -40]) {log_softmax([0.0, -40.0])[0]:.6g}  (exact; a plain x - logsumexp gives 0)")
    print()
    show_config()
    print()
    shapes = [(10,), (256, 1000)] if quick else [(10,), (1000,), (256, 1000), (1000, 4096)]
    print("softmax along the last axis, float32: fastsoftmax against "
          "np.exp(x - x.max()) / sum")
    print(f"  {'shape':>12}  {'fastsoftmax':>12}  {'NumPy':>12}  {'speed-up':>8}")
    rng = np.random.default_rng(0)
    for shape in shapes:
        x = rng.standard_normal(shape).astype(np.float32)
        ours = _best_time(lambda: softmax(x, axis=-1), 0.02 if quick else 0.05)
        theirs = _best_time(lambda: _numpy_softmax(x), 0.02 if quick else 0.05)
        print(f"  {str(shape):>12}  {ours * 1e6:>9.1f} us  {theirs * 1e6:>9.1f} us  {theirs / ours:>7.1f}x")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastsoftmax", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter timings")
    args = parser.parse_args(argv)
    demo(quick=args.quick)


if __name__ == "__main__":
    main()
