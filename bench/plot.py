"""Plot a bench/bench.py JSON file as PNG figures (needs matplotlib).

    python bench/plot.py RESULTS.json [-o OUTDIR]

Writes to OUTDIR (default: the current directory):

  speedup.png     fastsoftmax's speed-up over NumPy, SciPy and torch for every function,
                  dtype, shape and axis, all on 1 thread (grouped bars, log scale, 1x line)
  row_length.png  ns per element against the row length n of (R, n) arrays along the last
                  axis, 1 thread: fastsoftmax, NumPy, torch and the memcpy floor; needs a
                  run with --sweep (skipped otherwise)
  threads.png     fastsoftmax's speed-up on N OpenMP threads over itself on 1 thread, for
                  the cases large enough to be split; needs a run with --threads 1 N
                  (skipped otherwise)

Files from before the thread dimension (cases without a "threads" field) count as 1 thread.
"""
import argparse
import json
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
except ImportError:  # pragma: no cover - optional dependency
    sys.exit("bench/plot.py needs matplotlib: pip install matplotlib")

RIVAL_STYLE = {  # competitor -> (label, colour)
    "numpy": ("NumPy", "#4C72B0"),
    "scipy": ("scipy.special", "#DD8452"),
    "torch": ("torch", "#C44E52"),
}
LINE_STYLE = {  # sweep curves: competitor -> (label, colour, marker, line width)
    "fastsoftmax": ("fastsoftmax", "#2CA02C", "o", 2.4),
    "numpy": ("NumPy", "#4C72B0", "s", 1.5),
    "torch": ("torch", "#C44E52", "^", 1.5),
}
FLOOR_STYLE = dict(color="0.25", linestyle="--", linewidth=1.5)
PARALLEL_MIN_ELEMENTS = 32768   # fastsoftmax runs smaller inputs on one thread


def _threads(case):
    return case.get("threads", 1)


def _shape_label(case):
    shape = case["shape"]
    text = "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
    if len(shape) > 1 and case["axis"] % len(shape) != len(shape) - 1:
        text += f"\naxis {case['axis']}"
    return text


def _cpu(env):
    isa = env.get("isa_active")
    cores = env.get("cores_usable") or env.get("cores")
    extra = ", ".join(x for x in (f"{cores} cores" if cores else None,
                                  f"{isa.upper()} path" if isa else None) if x)
    return f"{env.get('cpu', 'unknown CPU')}" + (f" ({extra})" if extra else "")


def _ratio_text(v):
    return f"{v:.2g}x" if v < 10 else f"{v:.0f}x"


def _log_ratio_axis(ax, lo, hi):
    """Log y axis over [lo, hi] with ticks at 1-2-5 ratios written as 0.5x, 1x, 2x ..."""
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ticks = [m * 10.0 ** e for e in range(-2, 4) for m in (1, 2, 5)]
    ax.yaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))


def plot_speedup(data, path):
    """Grouped bars: fastsoftmax's speed-up over each rival, per function/dtype/case."""
    cases = [c for c in data["cases"] if _threads(c) == 1]
    functions = list(dict.fromkeys(c["function"] for c in cases))
    dtypes = list(dict.fromkeys(c["dtype"] for c in cases))
    rivals = [r for r in RIVAL_STYLE if any(r in c["speedup"] for c in cases)]
    values = [v for c in cases for k, v in c["speedup"].items() if k in rivals]
    lo, hi = min(values + [1.0]) / 1.6, max(values + [1.0]) * 2.6

    n_cases = max(sum(1 for c in cases if c["function"] == f and c["dtype"] == d)
                  for f in functions for d in dtypes)
    fig, axes = plt.subplots(len(functions), len(dtypes), squeeze=False, sharey=True,
                             layout="constrained",
                             figsize=(max(6.0, 1.05 * n_cases) * len(dtypes) + 0.6,
                                      3.3 * len(functions) + 1.1))
    width = 0.8 / len(rivals)
    for i, func in enumerate(functions):
        for j, dtype in enumerate(dtypes):
            ax = axes[i][j]
            group = [c for c in cases if c["function"] == func and c["dtype"] == dtype]
            for k, rival in enumerate(rivals):
                label, colour = RIVAL_STYLE[rival]
                xs = [g + (k - (len(rivals) - 1) / 2) * width for g in range(len(group))]
                ys = [c["speedup"].get(rival, float("nan")) for c in group]
                bars = ax.bar(xs, ys, width, color=colour, label=label, zorder=2)
                # value on top of each bar (a bar below 1x: its value under the 1x line)
                for bar, y in zip(bars, ys):
                    if y == y:  # not NaN
                        ax.annotate(_ratio_text(y), (bar.get_x() + bar.get_width() / 2, y),
                                    xytext=(0, 2), textcoords="offset points", ha="center",
                                    va="bottom", fontsize=6.5, rotation=90, color="0.2")
            ax.axhline(1.0, color="black", linewidth=1.0, zorder=3)
            _log_ratio_axis(ax, lo, hi)
            ax.set_xticks(range(len(group)))
            ax.set_xticklabels([_shape_label(c) for c in group], fontsize=8)
            ax.set_xlim(-0.6, len(group) - 0.4)
            ax.grid(axis="y", color="0.88", zorder=0)
            ax.set_title(f"{func}, {dtype}", fontsize=10)
            if j == 0:
                ax.set_ylabel("speed-up (their time / ours)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, [f"vs {lab}" for lab in labels], loc="outside lower center",
               ncol=len(rivals), frameon=False, fontsize=9)
    fig.suptitle(f"fastsoftmax speed-up over NumPy, SciPy and torch: {_cpu(data['environment'])}"
                 f"\nsingle-threaded (every library on 1 thread); reduced along the last axis "
                 f"unless marked; above 1x: fastsoftmax is faster", fontsize=11)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_row_length(data, path):
    """ns per element against the row length, one panel per function and dtype."""
    sweep = [c for c in data.get("sweep", []) if _threads(c) == 1]
    functions = list(dict.fromkeys(c["function"] for c in sweep))
    dtypes = list(dict.fromkeys(c["dtype"] for c in sweep))
    fig, axes = plt.subplots(len(functions), len(dtypes), squeeze=False, sharex=True,
                             sharey=True, layout="constrained",
                             figsize=(5.2 * len(dtypes) + 0.6, 3.4 * len(functions) + 1.0))
    ns_all = [v for c in sweep for v in c["ns_per_element"].values()]
    for i, func in enumerate(functions):
        for j, dtype in enumerate(dtypes):
            ax = axes[i][j]
            group = sorted((c for c in sweep if c["function"] == func and c["dtype"] == dtype),
                           key=lambda c: c["row_length"])
            n = [c["row_length"] for c in group]
            for name, (label, colour, marker, lw) in LINE_STYLE.items():
                ys = [c["ns_per_element"].get(name) for c in group]
                if any(y is not None for y in ys):
                    ax.plot(n, [float("nan") if y is None else y for y in ys], marker=marker,
                            color=colour, linewidth=lw, markersize=4, label=label, zorder=3)
            ax.plot(n, [c["ns_per_element"]["memcpy"] for c in group],
                    label="memcpy floor (np.copyto of the input)", zorder=2, **FLOOR_STYLE)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_ylim(min(ns_all) / 1.5, max(ns_all) * 1.5)
            ax.grid(which="major", color="0.85")
            ax.grid(which="minor", color="0.94")
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.set_title(f"{func}, {dtype}", fontsize=10)
            if i == len(functions) - 1:
                ax.set_xlabel("row length n  (array (R, n), R·n ≈ 2²⁰, along the last axis)")
            if j == 0:
                ax.set_ylabel("ns per element")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels),
               frameon=False, fontsize=9)
    fig.suptitle(f"Time per element against row length: {_cpu(data['environment'])}\n"
                 "single-threaded (every library on 1 thread); lower is better", fontsize=11)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_threads(data, path):
    """fastsoftmax on N threads against itself on 1 thread, for the splittable cases."""
    cases = [c for c in data["cases"] if _threads(c) > 1 and "speedup_over_1_thread" in c
             and _size(c) >= PARALLEL_MIN_ELEMENTS]
    functions = list(dict.fromkeys(c["function"] for c in cases))
    labels = list(dict.fromkeys((c["dtype"], _threads(c)) for c in cases))
    colours = ["#2CA02C", "#98DF8A", "#1F77B4", "#AEC7E8", "#9467BD", "#C5B0D5"]
    values = [c["speedup_over_1_thread"] for c in cases]
    top = max(values + [max(n for _, n in labels)]) * 1.18
    shapes = list(dict.fromkeys((tuple(c["shape"]), c["axis"]) for c in cases))
    fig, axes = plt.subplots(1, len(functions), squeeze=False, sharey=True,
                             layout="constrained",
                             figsize=(max(4.2, 1.0 * len(shapes)) * len(functions) + 0.6, 4.6))
    width = 0.8 / len(labels)
    for i, func in enumerate(functions):
        ax = axes[0][i]
        for k, (dtype, n) in enumerate(labels):
            xs, ys = [], []
            for g, (shape, axis) in enumerate(shapes):
                hit = next((c for c in cases if c["function"] == func and c["dtype"] == dtype
                            and _threads(c) == n and tuple(c["shape"]) == shape
                            and c["axis"] == axis), None)
                if hit is not None:
                    xs.append(g + (k - (len(labels) - 1) / 2) * width)
                    ys.append(hit["speedup_over_1_thread"])
            bars = ax.bar(xs, ys, width, color=colours[k % len(colours)],
                          label=f"{dtype}, {n} threads", zorder=2)
            for bar, y in zip(bars, ys):   # inside the top of the bar, clear of the lines
                inside = y > 0.25 * top
                ax.annotate(f"{y:.2f}x", (bar.get_x() + bar.get_width() / 2, y),
                            xytext=(0, -3 if inside else 2), textcoords="offset points",
                            ha="center", va="top" if inside else "bottom", fontsize=7,
                            color="0.1", zorder=4)
        ax.axhline(1.0, color="black", linewidth=1.0, zorder=3)
        for n in sorted({n for _, n in labels}):
            ax.axhline(n, zorder=3, **FLOOR_STYLE)
        ax.set_ylim(0, top)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels([_shape_label({"shape": s, "axis": a}) for s, a in shapes], fontsize=8)
        ax.set_xlim(-0.6, len(shapes) - 0.4)
        ax.grid(axis="y", color="0.88", zorder=0)
        ax.set_title(func, fontsize=10)
        if i == 0:
            ax.set_ylabel("speed-up over 1 thread")
    handles, leg = axes[0][0].get_legend_handles_labels()
    handles.append(plt.Line2D([], [], **FLOOR_STYLE))
    leg.append("N threads: perfect scaling")
    fig.legend(handles, leg, loc="outside lower center", ncol=len(leg), frameon=False,
               fontsize=9)
    fig.suptitle(f"fastsoftmax on more OpenMP threads: {_cpu(data['environment'])}\n"
                 "time on 1 thread / time on N threads (threadpoolctl limit); inputs of at least "
                 f"{PARALLEL_MIN_ELEMENTS} elements", fontsize=11)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _size(case):
    size = 1
    for d in case["shape"]:
        size *= d
    return size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", help="JSON written by bench/bench.py --json")
    ap.add_argument("-o", "--outdir", default=".", help="directory for the PNGs (created)")
    args = ap.parse_args(argv)
    with open(args.results) as f:
        data = json.load(f)
    os.makedirs(args.outdir, exist_ok=True)
    written = []
    path = os.path.join(args.outdir, "speedup.png")
    plot_speedup(data, path)
    written.append(path)
    if data.get("sweep"):
        path = os.path.join(args.outdir, "row_length.png")
        plot_row_length(data, path)
        written.append(path)
    else:
        print("no sweep in the file (run bench.py with --sweep): row_length.png skipped",
              file=sys.stderr)
    if any(_threads(c) > 1 and _size(c) >= PARALLEL_MIN_ELEMENTS for c in data["cases"]):
        path = os.path.join(args.outdir, "threads.png")
        plot_threads(data, path)
        written.append(path)
    else:
        print("no multi-thread cases in the file (run bench.py with --threads 1 N): "
              "threads.png skipped", file=sys.stderr)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
