"""Generate the polynomial coefficients of csrc/fsm_exp.h.

exp(r) on |r| <= ln2/2 is written as 1 + r + r^2 q(r), so exp(0) == 1 exactly and the two
leading terms carry no coefficient rounding. q is a near-minimax (Chebyshev) fit of
(exp(r) - 1 - r) / r^2 in 60-digit arithmetic; the coefficients are printed as hex floats
rounded to the target precision. Run: python tools/gen_exp_poly.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 60
HALF_LN2 = mp.log(2) / 2


def q(r):
    if r == 0:
        return mp.mpf(1) / 2
    return (mp.exp(r) - 1 - r) / r**2


def fit(degree_q, to_float):
    coeffs = mp.chebyfit(q, [-HALF_LN2, HALF_LN2], degree_q + 1)  # highest degree first
    rounded = [to_float(c) for c in coeffs]
    # relative error of exp(r) with the rounded coefficients, in exact arithmetic
    grid = mp.linspace(-HALF_LN2, HALF_LN2, 2001)
    err = max(abs(1 + r + r**2 * mp.polyval([mp.mpf(float(c)) for c in rounded], r) - mp.exp(r))
              / mp.exp(r) for r in grid)
    return rounded, err


for name, degree, to_float in (("f32", 4, lambda c: np.float32(float(c))),
                               ("f64", 9, lambda c: np.float64(float(c)))):
    cs, err = fit(degree, to_float)
    print(f"{name}: q degree {degree} (exp degree {degree + 2}), fit error {mp.nstr(err, 3)}")
    for i, c in enumerate(cs):
        print(f"  c{degree + 2 - i} = {float(c).hex()}  /* {float(c)!r} */")
