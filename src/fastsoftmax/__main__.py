"""python -m fastsoftmax: the seed's worked example, the code path in use, and a short
speed comparison against the NumPy composition on this machine.

python -m fastsoftmax plot 1.5 0.8 -0.2 -o chart.png: a bar chart of the logits beside their
softmax probabilities (needs matplotlib)."""
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


def plot_command(args):
    """python -m fastsoftmax plot X [X ...] [-o PNG] [--labels ...] [-t T]"""
    from . import plot

    logits = np.array(args.logits, dtype=np.float64)
    labels = None
    if args.labels:
        labels = [s for item in args.labels for s in item.split(",") if s]
    try:
        plot(logits, labels=labels, temperature=args.temperature, path=args.output)
    except ImportError as exc:
        raise SystemExit(f"python -m fastsoftmax plot: {exc}") from None
    except ValueError as exc:
        raise SystemExit(f"python -m fastsoftmax plot: {exc}") from None
    names = labels or [str(i) for i in range(logits.size)]
    probs = softmax(logits, temperature=args.temperature)
    width = max(len(n) for n in names)
    for name, x, p in zip(names, logits, probs):
        print(f"  {name:>{width}}  logit {x:>8.4g}  p {p:.4f}")
    print(f"wrote {args.output}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m fastsoftmax", description=__doc__,
        epilog="python -m fastsoftmax plot 1.5 0.8 -0.2 -o chart.png: a bar chart of the "
               "logits and their softmax (needs matplotlib: pip install 'fastsoftmax[plot]')")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter timings")
    sub = parser.add_subparsers(dest="command", metavar="{plot}")
    p = sub.add_parser("plot", help="bar chart of logits beside their softmax probabilities (PNG)",
                       description="Write a PNG bar chart of the logits beside softmax(logits / T).")
    p.add_argument("logits", nargs="+", type=float, help="the logits (negative numbers are fine)")
    p.add_argument("-o", "--output", default="chart.png", help="PNG file to write (default chart.png)")
    p.add_argument("-l", "--labels", nargs="+", metavar="NAME",
                   help="class names, space- or comma-separated (default 0, 1, ...)")
    p.add_argument("-t", "--temperature", type=float, default=1.0, help="softmax temperature (default 1)")
    args = parser.parse_args(argv)
    if args.command == "plot":
        plot_command(args)
    else:
        demo(quick=args.quick)


if __name__ == "__main__":
    main()
