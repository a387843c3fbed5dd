"""Loss functions and gradients for training code, on the same C kernels: cross_entropy
(with its gradient in the same pass), softmax_grad, log_softmax_grad,
binary_cross_entropy_with_logits, and plot (a bar chart of logits and probabilities).

Semantics are PyTorch's (torch.nn.functional.cross_entropy and
binary_cross_entropy_with_logits, and autograd for the gradients), with the class axis
last by default (``axis=-1``; PyTorch's is 1). dtypes follow the rest of the package:
float32 and float64 are computed in their own precision (sums in double), float16 in
float32 and returned as float16, integers and bool as float64, longdouble in float64.
"""
import math
import operator

import numpy as np

from . import _core
from ._api import _is_dask

__all__ = ["cross_entropy", "softmax_grad", "log_softmax_grad",
           "binary_cross_entropy_with_logits", "plot"]

AxisError = np.exceptions.AxisError if hasattr(np, "exceptions") else np.AxisError
_INT64 = np.iinfo(np.int64)
_REDUCTIONS = {"none": _core.REDUCE_NONE, "mean": _core.REDUCE_MEAN, "sum": _core.REDUCE_SUM}


def _classify(x, func):
    """(compute dtype, result dtype) for a real input; TypeError for anything else."""
    dt = x.dtype
    if dt.kind == "f":
        if dt.itemsize == 2:
            return np.dtype(np.float32), np.dtype(np.float16)
        if dt.itemsize == 4:
            return np.dtype(np.float32), np.dtype(np.float32)
        return np.dtype(np.float64), np.dtype(np.float64)  # float64; longdouble computed in float64
    if dt.kind in "biu":
        return np.dtype(np.float64), np.dtype(np.float64)
    raise TypeError(f"{func}: unsupported dtype {dt} (expected a real floating, integer or bool array)")


def _reduction_code(reduction, func):
    try:
        return _REDUCTIONS[reduction]
    except (KeyError, TypeError):
        raise ValueError(f"{func}: reduction must be 'mean', 'sum' or 'none', not {reduction!r}") from None


def _axis(axis, ndim, func):
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{func}: axis must be an integer, not {type(axis).__name__}") from None
    if not -ndim <= a < ndim:
        raise AxisError(a, ndim)
    return a % ndim


def _c(a, dtype):
    """a as a C-contiguous, aligned, native array of dtype (a copy only when it is not one
    already): what the C drivers take. The check first: np.require costs microseconds."""
    if a.dtype == dtype and a.flags.c_contiguous and a.flags.aligned:
        return a
    return np.require(a, dtype=dtype, requirements=["C_CONTIGUOUS", "ALIGNED"])


def _move(a, source, destination):
    """np.moveaxis, skipped when it would change nothing (it costs microseconds)."""
    return a if source % a.ndim == destination % a.ndim else np.moveaxis(a, source, destination)


def _finish(value, result):
    """A reduced loss as a NumPy scalar of the result dtype."""
    return result.type(value)


def cross_entropy(logits, target, *, axis=-1, weight=None, ignore_index=-100,
                  label_smoothing=0.0, reduction="mean", return_grad=False):
    """Cross-entropy between softmax(logits) along `axis` and a target, as
    ``torch.nn.functional.cross_entropy`` computes it (with PyTorch's class axis 1 moved to
    `axis`), in one fused C pass per row: the max, then one exp-and-sum pass that gives
    logsumexp beside the picked logit (and, with a gradient, the softmax).

    Parameters
    ----------
    logits : array_like
        Unnormalised scores; `axis` holds the C classes (at least 1-d).
    target : array_like
        Either integer class indices, of the shape of `logits` without `axis`, in [0, C)
        or equal to `ignore_index`; or class probabilities (a floating array of the shape
        of `logits`).
    axis : int, optional
        The class axis (default -1, the last).
    weight : array_like, optional
        C class weights (a rescaling of each class's loss).
    ignore_index : int, optional
        Integer targets equal to it contribute neither loss nor gradient, and are left out
        of the mean (default -100). Unused with probability targets.
    label_smoothing : float, optional
        In [0, 1]: the target becomes (1 - s) * target + s / C.
    reduction : {"mean", "sum", "none"}, optional
        "mean": over integer targets, the sum divided by the summed weight of the
        non-ignored targets (NaN when all are ignored); over probabilities, by the number
        of rows. "sum": the sum. "none": one loss per row (ignored rows 0).
    return_grad : bool, optional
        Also return the gradient of the returned loss with respect to `logits` (for
        reduction "none", of the sum of the losses), computed in the same pass.

    Returns
    -------
    loss : NumPy scalar (mean, sum) or ndarray of the target's batch shape (none)
    dlogits : ndarray of `logits`' shape, only with ``return_grad=True``

    Rows whose max is not finite (containing +inf or NaN, or all -inf) have a NaN loss and
    gradient, as in PyTorch.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsoftmax import cross_entropy
    >>> logits = np.array([[1.5, 0.8, -0.2], [0.1, 2.0, 0.3]])
    >>> print(round(float(cross_entropy(logits, [0, 1])), 6))
    0.402615
    >>> loss, grad = cross_entropy(logits, [0, 1], reduction="sum", return_grad=True)
    >>> np.round(grad, 4)
    array([[-0.4045,  0.2957,  0.1088],
           [ 0.1123, -0.2494,  0.1371]])
    """
    if weight is None:  # the common call: one call into C (_core.cross_entropy_fast)
        res = _core.cross_entropy_fast(logits, target, axis, ignore_index, label_smoothing,
                                       reduction, return_grad)
        if res is not None:
            return res
    if _is_dask(logits) or _is_dask(target):
        from . import _dask
        return _dask.cross_entropy(logits, target, axis=axis, weight=weight, ignore_index=ignore_index,
                                   label_smoothing=label_smoothing, reduction=reduction, return_grad=return_grad)
    func = "cross_entropy"
    code = _reduction_code(reduction, func)
    x = np.asarray(logits)
    compute, result = _classify(x, func)
    if x.ndim == 0:
        raise ValueError(f"{func}: logits must have a class axis (got a 0-d array)")
    ax = _axis(axis, x.ndim, func)
    try:
        eps = float(label_smoothing)
    except (TypeError, ValueError):
        raise TypeError(f"{func}: label_smoothing must be a number, not {type(label_smoothing).__name__}") from None
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"{func}: label_smoothing must be between 0.0 and 1.0, got {label_smoothing!r}")
    C = x.shape[ax]
    xm = _move(x, ax, -1)
    batch = xm.shape[:-1]
    rows = math.prod(batch)
    x2 = _c(xm, dtype=compute).reshape(rows, C)

    w = None
    if weight is not None:
        w = np.asarray(weight)
        _classify(w, f"{func}: weight")
        if w.shape != (C,):
            raise ValueError(f"{func}: weight must have shape ({C},) (one per class), got {w.shape}")
        w = _c(w.astype(compute), dtype=np.float64)  # rounded as the logits are

    t = np.asarray(target)
    if t.dtype.kind in "iu":
        if t.shape != batch:
            raise ValueError(f"{func}: integer target must have shape {batch} (the logits' shape "
                             f"{x.shape} without axis {ax}), got {t.shape}")
        try:
            ignore = operator.index(ignore_index)
        except TypeError:
            raise TypeError(f"{func}: ignore_index must be an integer, not {type(ignore_index).__name__}") from None
        t1 = t.reshape(-1)
        if t1.dtype == np.uint64 and t1.size and t1.max() > _INT64.max:
            _raise_bad_label(t, int(np.argmax(t1 > _INT64.max)), C, ignore_index)
        t1 = _c(t1, dtype=np.int64)
        if not _INT64.min <= ignore <= _INT64.max:
            ignore = _INT64.min  # matches no int64 label
        loss = np.empty(rows, dtype=compute) if code == _core.REDUCE_NONE else None
        grad = np.empty((rows, C), dtype=compute) if return_grad else None
        total, bad = _core.cross_entropy_index(x2, t1, w, ignore, eps, code, loss, grad)
        if bad >= 0:
            _raise_bad_label(t, bad, C, ignore_index)
    elif t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"{func}: a floating target holds class probabilities and must have "
                             f"the logits' shape {x.shape}, got {t.shape} (class indices need an "
                             f"integer dtype)")
        t2 = _c(_move(t, ax, -1), dtype=compute).reshape(rows, C)
        loss = np.empty(rows, dtype=compute) if code == _core.REDUCE_NONE else None
        grad = np.empty((rows, C), dtype=compute) if return_grad else None
        total = _core.cross_entropy_prob(x2, t2, w, eps, code, loss, grad)
    else:
        raise TypeError(f"{func}: target must hold integer class indices or floating class "
                        f"probabilities, not {t.dtype}")

    if code == _core.REDUCE_NONE:
        out = loss.reshape(batch).astype(result, copy=False)
        out = out[()] if out.ndim == 0 else out
    else:
        out = _finish(total, result)
    if not return_grad:
        return out
    g = _move(grad.reshape(batch + (C,)), -1, ax).astype(result, copy=False)
    return out, g


def _raise_bad_label(t, flat_index, C, ignore):
    where = np.unravel_index(flat_index, t.shape) if t.ndim else ()
    label = t[where] if t.ndim else t[()]
    at = f" at index {tuple(int(i) for i in where)}" if t.ndim else ""
    raise ValueError(f"cross_entropy: target label {int(label)}{at} is out of range: labels must "
                     f"be in [0, {C}) or equal ignore_index ({ignore})")


def _vjp(y, g, axis, log, func):
    res = _core.softmax_vjp_fast(y, g, axis, log)  # the common call: one call into C
    if res is not None:
        return res
    y = np.asarray(y)
    g = np.asarray(g)
    if y.shape != g.shape:
        raise ValueError(f"{func}: the output and its gradient must have the same shape, "
                         f"got {y.shape} and {g.shape}")
    _classify(y, func)
    _classify(g, func)
    compute, result = _classify(np.empty(0, np.result_type(y.dtype, g.dtype)), func)
    if y.ndim == 0:
        out = _core.softmax_vjp(_c(y.reshape(1), dtype=compute),
                                _c(g.reshape(1), dtype=compute),
                                np.empty(1, dtype=compute), log)
        return out.astype(result, copy=False)[0]
    ax = _axis(axis, y.ndim, func)
    ym = _c(_move(y, ax, -1), dtype=compute)
    gm = _c(_move(g, ax, -1), dtype=compute)
    out = _core.softmax_vjp(ym, gm, np.empty_like(ym), log)
    return _move(out, -1, ax).astype(result, copy=False)


def softmax_grad(y, grad_y, axis=-1):
    """The gradient with respect to x of a loss, given ``y = softmax(x, axis)`` and
    ``grad_y``, the loss's gradient with respect to y (the vector-Jacobian product):
    ``y * (grad_y - sum(grad_y * y, axis))``, as PyTorch's autograd computes it. Sums in double.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsoftmax import softmax, softmax_grad
    >>> y = softmax([1.5, 0.8, -0.2])
    >>> np.round(softmax_grad(y, [1.0, 0.0, 0.0]), 4)
    array([ 0.2409, -0.1761, -0.0648])
    """
    return _vjp(y, grad_y, axis, False, "softmax_grad")


def log_softmax_grad(logp, grad_logp, axis=-1):
    """The gradient with respect to x of a loss, given ``logp = log_softmax(x, axis)`` and
    ``grad_logp``, the loss's gradient with respect to logp:
    ``grad_logp - exp(logp) * sum(grad_logp, axis)``, as PyTorch's autograd computes it.

    Examples
    --------
    >>> import numpy as np
    >>> from fastsoftmax import log_softmax, log_softmax_grad
    >>> logp = log_softmax([1.5, 0.8, -0.2])
    >>> np.round(log_softmax_grad(logp, [-1.0, 0.0, 0.0]), 4)     # d(-logp[0])/dx
    array([-0.4045,  0.2957,  0.1088])
    """
    return _vjp(logp, grad_logp, axis, True, "log_softmax_grad")


def binary_cross_entropy_with_logits(logits, target, *, weight=None, pos_weight=None, reduction="mean"):
    """Binary cross-entropy between sigmoid(logits) and target, as
    ``torch.nn.functional.binary_cross_entropy_with_logits`` computes it:
    ``weight * ((1 - t) * x - (1 + (pos_weight - 1) * t) * log_sigmoid(x))`` with
    ``log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|))``, stable for logits of any size.

    `target` has the shape of `logits`; `weight` and `pos_weight` broadcast to it
    (`pos_weight` typically has one entry per class, along the last axis).

    Examples
    --------
    >>> from fastsoftmax import binary_cross_entropy_with_logits as bce
    >>> print(round(float(bce([2.0, -1.0, 1e4], [1.0, 0.0, 0.0])), 6))
    3333.480063
    """
    if weight is None and pos_weight is None:  # the common call: one call into C
        res = _core.bce_logits_fast(logits, target, reduction)
        if res is not None:
            return res
    func = "binary_cross_entropy_with_logits"
    code = _reduction_code(reduction, func)
    x = np.asarray(logits)
    t = np.asarray(target)
    compute, result = _classify(x, func)
    _classify(t, f"{func}: target")
    if t.shape != x.shape:
        raise ValueError(f"{func}: target size {t.shape} must be the same as the logits' size {x.shape}")
    xc = _c(x, dtype=compute)
    tc = _c(t, dtype=compute)
    extra = []
    for name, a in (("weight", weight), ("pos_weight", pos_weight)):
        if a is None:
            extra.append(None)
            continue
        a = np.asarray(a)
        _classify(a, f"{func}: {name}")
        try:
            a = np.broadcast_to(a, x.shape)
        except ValueError:
            raise ValueError(f"{func}: {name} of shape {a.shape} does not broadcast to the "
                             f"logits' shape {x.shape}") from None
        extra.append(_c(a, dtype=compute))
    loss = np.empty(x.shape, dtype=compute) if code == _core.REDUCE_NONE else None
    total = _core.bce_logits(xc, tc, extra[0], extra[1], loss)
    if code == _core.REDUCE_NONE:
        out = loss.astype(result, copy=False)
        return out[()] if out.ndim == 0 else out
    if code == _core.REDUCE_MEAN:
        total = total / x.size if x.size else float("nan")
    return _finish(total, result)


def plot(logits, *, labels=None, temperature=1.0, path=None, ax=None):
    """A bar chart of `logits` beside their softmax probabilities ``softmax(logits / T)``.

    Needs matplotlib (``pip install "fastsoftmax[plot]"``), imported only here.

    Parameters
    ----------
    logits : array_like, 1-d
    labels : sequence of str, optional
        One name per class (default "0", "1", ...).
    temperature : float, optional
        The softmax temperature T > 0.
    path : str or path-like, optional
        Also write the figure there as a PNG.
    ax : matplotlib Axes, optional
        Draw into this Axes (probabilities on a twin axis) instead of a new figure of two
        panels.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from ._api import softmax

    x = np.asarray(logits, dtype=np.float64)
    if x.ndim != 1 or x.size == 0:
        raise ValueError(f"plot: logits must be a non-empty 1-d array, got shape {x.shape}")
    T = float(temperature)
    if not T > 0 or not np.isfinite(T):
        raise ValueError(f"plot: temperature must be a positive finite number, got {temperature!r}")
    names = [str(i) for i in range(x.size)] if labels is None else [str(s) for s in labels]
    if len(names) != x.size:
        raise ValueError(f"plot: {len(names)} labels for {x.size} logits")
    p = softmax(x / T)

    try:
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('plot needs matplotlib: pip install "fastsoftmax[plot]"') from exc

    pos = np.arange(x.size)
    logit_color, prob_color = "#4C72B0", "#DD8452"
    title_t = "" if T == 1.0 else f" / {T:g}"
    if ax is None:
        # a Figure without pyplot: no global state, no GUI backend needed
        fig = Figure(figsize=(max(6.4, 1.1 * x.size + 3.0), 3.6), layout="constrained")
        ax_l, ax_p = fig.subplots(1, 2)
        ax_l.bar(pos, x, color=logit_color)
        ax_l.axhline(0.0, color="0.3", linewidth=0.8)
        ax_l.set_title("logits")
        ax_l.set_ylabel("logit")
        ax_l.margins(y=0.15)  # room for the value labels, above and below
        ax_p.bar(pos, p, color=prob_color)
        ax_p.set_ylim(0.0, max(1.0, float(p.max()) * 1.12))
        ax_p.set_title(f"softmax(logits{title_t})")
        for a, vals, fmt in ((ax_l, x, "{:.3g}"), (ax_p, p, "{:.4f}")):
            a.set_xticks(pos, names)
            a.spines[["top", "right"]].set_visible(False)
            _annotate(a, pos, vals, fmt)
        ax_p.set_ylabel("probability")
        fig.suptitle("logits and their softmax probabilities", fontsize="medium")
    else:
        fig = ax.figure
        width = 0.4
        ax.bar(pos - width / 2, x, width, color=logit_color, label="logit")
        ax.axhline(0.0, color="0.3", linewidth=0.8)
        ax.set_ylabel("logit")
        ax.set_xticks(pos, names)
        twin = ax.twinx()
        twin.bar(pos + width / 2, p, width, color=prob_color, label=f"softmax(logits{title_t})")
        twin.set_ylim(0.0, 1.0)
        twin.set_ylabel("probability")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles, [h.get_label() for h in handles], loc="upper right", frameon=False)
    if path is not None:
        fig.savefig(path, format="png", dpi=150)
    return fig


def _annotate(ax, pos, vals, fmt):
    """Each bar's value just beyond its end."""
    for xpos, v in zip(pos, vals):
        ax.annotate(fmt.format(v), (xpos, v), xytext=(0, 3 if v >= 0 else -3),
                    textcoords="offset points", ha="center",
                    va="bottom" if v >= 0 else "top", fontsize="small")
