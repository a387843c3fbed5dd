"""fastsoftmax: numerically stable softmax, log_softmax and logsumexp for NumPy arrays,
in SIMD C kernels chosen at import for the CPU at hand. Drop-in for scipy.special."""
import os as _os
import warnings as _warnings

from . import _core
from ._api import log_softmax, logsumexp, softmax
from ._ml import (binary_cross_entropy_with_logits, cross_entropy, log_softmax_grad, plot,
                  softmax_grad)
from ._version import __version__

__all__ = ["softmax", "log_softmax", "logsumexp", "cross_entropy", "softmax_grad", "log_softmax_grad",
           "binary_cross_entropy_with_logits", "plot", "show_config", "__version__"]


def _select_isa_from_env():
    """FASTSOFTMAX_ISA=scalar|sse2|avx2|avx512|neon forces a path (for tests, reproducibility)."""
    name = _os.environ.get("FASTSOFTMAX_ISA", "").strip().lower()
    if not name:
        return
    try:
        _core.set_isa(name)
    except ValueError as exc:
        _warnings.warn(f"FASTSOFTMAX_ISA={name!r} ignored ({exc}); using {_core.active_isa()!r}",
                       RuntimeWarning, stacklevel=3)


_select_isa_from_env()


def show_config(print_=True):
    """Print and return the compiled, supported and active kernel paths.

    Returns a dict: {"version", "compiled", "supported", "best", "active"}.
    """
    table = _core.isa_table()
    config = {
        "version": __version__,
        "compiled": [name for name, compiled, _ in table if compiled],
        "supported": [name for name, _, supported in table if supported],
        "best": _core.best_isa(),
        "active": _core.active_isa(),
    }
    if print_:
        print(f"fastsoftmax {config['version']}")
        for key in ("compiled", "supported"):
            print(f"  {key + ':':<10} {', '.join(config[key])}")
        print(f"  {'best:':<10} {config['best']}")
        print(f"  {'active:':<10} {config['active']}")
    return config
