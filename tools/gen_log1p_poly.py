"""Generate the polynomial coefficients of K(log1p_unit) in csrc/fsm_exp.h.

log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1] is written as 2 atanh(s) = 2s + s z Q(z), with
s = f / (2 + f) and z = s^2 <= (3 - 2 sqrt 2)^2, so the leading term carries no coefficient
rounding. Q is a near-minimax (Chebyshev) fit of (2 atanh(s) / s - 2) / z in 60-digit
arithmetic; the coefficients are printed as hex floats rounded to the target precision,
with the fit's relative error of log1p in exact arithmetic. Run: python tools/gen_log1p_poly.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 60
S_MAX = mp.mpf(3) - 2 * mp.sqrt(2)  # s at f = sqrt(2) - 1
Z_MAX = S_MAX**2


def Q(z):
    if z == 0:
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (2 * mp.atanh(s) / s - 2) / z


def fit(degree, to_float):
    coeffs = mp.chebyfit(Q, [0, Z_MAX], degree + 1)  # highest degree first
    rounded = [to_float(c) for c in coeffs]
    worst = 0
    for s in mp.linspace(-S_MAX, S_MAX, 2001):
        if s == 0:
            continue
        z = s * s
        approx = 2 * s + s * z * mp.polyval([mp.mpf(float(c)) for c in rounded], z)
        worst = max(worst, abs(approx / (2 * mp.atanh(s)) - 1))
    return rounded, worst


for name, degree, to_float in (("f32", 2, lambda c: np.float32(float(c))),
                               ("f64", 6, lambda c: np.float64(float(c)))):
    cs, err = fit(degree, to_float)
    print(f"{name}: Q degree {degree}, fit error {mp.nstr(err, 3)}")
    for i, c in enumerate(cs):
        print(f"  q{degree - i} = {float(c).hex()}  /* {float(c)!r} */")
