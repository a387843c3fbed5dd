"""Generate the polynomial coefficients of csrc/fsm_exp.h: the exp's and the log1p's.

exp:   exp(r) on |r| <= ln2/2 is written as 1 + r + r^2 q(r), so exp(0) == 1 exactly and the
       two leading terms carry no coefficient rounding; q fits (exp(r) - 1 - r) / r^2.
log1p: log1p(f) for f in [sqrt(1/2) - 1, sqrt(2) - 1] is written as 2 atanh(s) =
       2s + s z Q(z), s = f / (2 + f), z = s^2 <= (3 - 2 sqrt 2)^2, so the leading term carries
       no coefficient rounding; Q fits (2 atanh(s) / s - 2) / z.
Each fit is a near-minimax (Chebyshev) one in 60-digit arithmetic; the coefficients are
printed as hex floats rounded to the target precision, with the relative error of the
function in exact arithmetic over its interval. Run: python tools/gen_exp_poly.py
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 60
HALF_LN2 = mp.log(2) / 2
S_MAX = mp.mpf(3) - 2 * mp.sqrt(2)  # s at f = sqrt(2) - 1


def exp_q(r):
    return mp.mpf(1) / 2 if r == 0 else (mp.exp(r) - 1 - r) / r**2


def log1p_Q(z):
    if z == 0:
        return mp.mpf(2) / 3
    s = mp.sqrt(z)
    return (2 * mp.atanh(s) / s - 2) / z


def fit(target, interval, degree, to_float, approx, exact, grid):
    """Coefficients of a fit of `target` on `interval` (highest degree first, rounded by
    to_float) and the worst relative error of approx(poly, v) against exact(v) on `grid`."""
    rounded = [to_float(c) for c in mp.chebyfit(target, interval, degree + 1)]
    poly = [mp.mpf(float(c)) for c in rounded]
    err = max(abs(approx(poly, v) / exact(v) - 1) for v in grid if v != 0)
    return rounded, err


FLOATS = {"f32": lambda c: np.float32(float(c)), "f64": lambda c: np.float64(float(c))}
CASES = [
    ("exp", "c", 2, exp_q, [-HALF_LN2, HALF_LN2], {"f32": 4, "f64": 9},
     lambda p, r: 1 + r + r**2 * mp.polyval(p, r), mp.exp, mp.linspace(-HALF_LN2, HALF_LN2, 2001)),
    ("log1p", "q", 0, log1p_Q, [0, S_MAX**2], {"f32": 2, "f64": 6},
     lambda p, s: 2 * s + s**3 * mp.polyval(p, s**2), lambda s: 2 * mp.atanh(s),
     mp.linspace(-S_MAX, S_MAX, 2001)),
]

for func, letter, offset, target, interval, degrees, approx, exact, grid in CASES:
    for name, to_float in FLOATS.items():
        degree = degrees[name]
        cs, err = fit(target, interval, degree, to_float, approx, exact, grid)
        print(f"{func} {name}: degree {degree}, fit error {mp.nstr(err, 3)}")
        for i, c in enumerate(cs):
            print(f"  {letter}{degree + offset - i} = {float(c).hex()}  /* {float(c)!r} */")

# The ML losses' table exp on AVX-512 (csrc/fsm_exp.h, K(exp_ml)): exp(r) = 1 + r + r^2 q(r)
# on |r| <= ln2/32 with q of degree 1, and the 16 entries 2^(j/16) rounded to float32, printed
# as their bits less those of 1.0 and less j << 19, wrapped to 32 bits (csrc/fsm_simd_avx512.h,
# vf32_exp2_16th_from_magic: the exponent comes in by one shift of k + 16 * 127).
SIXTEENTH = mp.log(2) / 32
cs, err = fit(exp_q, [-SIXTEENTH, SIXTEENTH], 1, FLOATS["f32"],
              lambda p, r: 1 + r + r**2 * mp.polyval(p, r), mp.exp, mp.linspace(-SIXTEENTH, SIXTEENTH, 2001))
print(f"exp_ml f32: degree 1 on |r| <= ln2/32, fit error {mp.nstr(err, 3)}")
for i, c in enumerate(cs):
    print(f"  c{3 - i} = {float(c).hex()}  /* {float(c)!r} */")
bits = [(int(np.float32(float(mp.power(2, mp.mpf(j) / 16))).view(np.uint32)) - (127 << 23) - (j << 19)) % 2**32
        for j in range(16)]
print("  2^(j/16) table: " + ", ".join(f"0x{b:08x}" for b in bits))
