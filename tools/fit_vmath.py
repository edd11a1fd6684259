"""Regenerate the fitted coefficients of sadbench/model/vmath/ (exponential.py, normal.py), and check them against
the stored ones.

exp    expm1(r) = r + r²·(1/2 + r·E(r)) on |r| ≤ 1.003·ln2/2 (the Cody–Waite range plus room for the rounding of
       r), E = E1 + E2·r + ... + E9·r⁸ minimising max |r·(E(r) - e(r))|, e(r) = ((expm1(r) - r)/r² - 1/2)/r, i.e.
       the error of expm1(r) in units of r²; 150 Chebyshev nodes, mpmath at 200 bits, 50 Lawson iterations.
mills  the Mills ratio Φ(-t)/φ(t) = P(t)/(t·P(t) + D(t)) on 0 ≤ t ≤ 38.6 (vmath.NDTR_CLAMP), P = MP0 + ... +
       MP10·t¹⁰, D = 1 + MD1·t + ... + MD9·t⁹, minimising the relative error on 140 nodes Chebyshev-spaced in
       u = (t - 4)/(t + 4) plus both ends; mpmath at 300 bits, basis in t/8 for conditioning. The relative error
       is not linear in the coefficients: Loeb's iteration minimises (P·(1 - t·R) - R·D)/(R·Q) instead, R the
       ratio, Q = t·P + D of the previous round (4 rounds of 25 Lawson iterations).

Both are weighted linear least squares (normal equations in mpmath) reweighted by Lawson's algorithm: each
node's weight is multiplied by its error and renormalised, which drives the fit towards the minimax one.
Doubles are printed in the form vmath assigns them, with the maximum relative error on a dense check grid
(of the exact and of the double coefficients, both evaluated in mpmath) and the maximum relative difference
from the constants in sadbench.model.vmath (0 when reproduced bit for bit).

Usage: python tools/fit_vmath.py exp|mills|all   (mpmath, in the test extra; about 5 s and 25 s)
"""

import sys
import textwrap

import mpmath as mp


def chebyshev(a, b, n):
    """n Chebyshev nodes of [a, b]."""
    return [(a + b) / 2 + (b - a) / 2 * mp.cos(mp.pi * (2 * i + 1) / (2 * n)) for i in range(n)]


def lstsq(rows, rhs, weights):
    """c minimising Σ w_i (rows_i·c - rhs_i)², by the normal equations."""
    n = len(rows[0])
    a = mp.matrix(n, n)
    b = mp.matrix(n, 1)
    for row, y, w in zip(rows, rhs, weights):
        for j in range(n):
            wj = w * row[j]
            b[j] += wj * y
            for k in range(j, n):
                a[j, k] += wj * row[k]
    for j in range(n):
        for k in range(j):
            a[j, k] = a[k, j]
    return list(mp.lu_solve(a, b))


def lawson(rows, rhs, weights, error, iters):
    """:func:`lstsq` with Lawson's reweighting: node i weighs weights[i]·l_i, l ← l·error(c)/Σ l·error(c)."""
    lw = [mp.mpf(1) / len(rows)] * len(rows)
    for _ in range(iters):
        c = lstsq(rows, rhs, [w * l for w, l in zip(weights, lw)])
        err = error(c)
        s = sum(l * e for l, e in zip(lw, err))
        lw = [l * e / s for l, e in zip(lw, err)]
    return c


def polyval(c, x):
    """c[0] + c[1]·x + ... (Horner)."""
    total = mp.mpf(0)
    for coefficient in reversed(c):
        total = total * x + coefficient
    return total


def fit_exp():
    """E1..E9; the check is the relative error of expm1(r)."""
    mp.mp.prec = 200
    a = mp.log(2) / 2 * mp.mpf("1.003")
    rs = chebyshev(-a, a, 150)
    rhs = [((mp.expm1(r) - r) / r**2 - mp.mpf(1) / 2) / r for r in rs]
    rows = [[r**j for j in range(9)] for r in rs]
    c = lawson(rows, rhs, [r**2 for r in rs],
               lambda c: [abs(r * (mp.fdot(row, c) - y)) for r, row, y in zip(rs, rows, rhs)], 50)
    grid = [r for r in mp.linspace(-a, a, 4000)]  # even count: no r = 0

    def rel_error(e):
        return max(abs((r + r**2 * (mp.mpf(1) / 2 + r * polyval(e, r))) / mp.expm1(r) - 1) for r in grid)

    return {"E": ([f"E{j}" for j in range(1, 10)], c)}, rel_error, "expm1(r), |r| ≤ 1.003·ln2/2"


def fit_mills():
    """MP0..MP10, MD1..MD9; the check is the relative error of the Mills ratio."""
    mp.mp.prec = 300
    big_t, k, s = mp.mpf("38.6"), 4, 8
    ut = (big_t - k) / (big_t + k)
    ts = [k * (1 + u) / (1 - u) for u in chebyshev(-1, ut, 140)] + [mp.mpf(0), big_t]
    ratio = [mp.ncdf(-t) / mp.npdf(t) for t in ts]
    rows = [[(1 - t * r) * (t / s) ** j for j in range(11)] + [-r * (t / s) ** j for j in range(1, 10)]
            for t, r in zip(ts, ratio)]

    def pq(c, t):
        p = polyval(c[:11], t / s)
        return p, t * p + 1 + t / s * polyval(c[11:], t / s)

    def rel(c):
        return [abs(p / q / r - 1) for (p, q), r in zip((pq(c, t) for t in ts), ratio)]

    q = [mp.mpf(1)] * len(ts)
    for _ in range(4):
        c = lawson(rows, ratio, [1 / (r * qi) ** 2 for r, qi in zip(ratio, q)], rel, 25)
        q = [pq(c, t)[1] for t in ts]
    mp_coeffs = [c[j] / s**j for j in range(11)]
    md_coeffs = [c[10 + j] / s**j for j in range(1, 10)]
    grid = sorted(set(list(mp.linspace(0, big_t, 2000))
                      + [k * (1 + u) / (1 - u) for u in mp.linspace(-1, ut, 2000)]))
    reference = [mp.ncdf(-t) / mp.npdf(t) for t in grid]

    def rel_error(coeffs):
        p, d = coeffs[:11], [mp.mpf(1)] + coeffs[11:]
        return max(abs(polyval(p, t) / (t * polyval(p, t) + polyval(d, t)) / r - 1) for t, r in zip(grid, reference))

    fits = {"P": ([f"MP{j}" for j in range(11)], mp_coeffs), "D": ([f"MD{j}" for j in range(1, 10)], md_coeffs)}
    return fits, rel_error, "Φ(-t)/φ(t), 0 ≤ t ≤ 38.6"


def report(name, fit):
    """Print the coefficients as vmath assigns them, the fit's error and the difference from the stored ones."""
    from sadbench.model import vmath

    fits, rel_error, what = fit()
    exact = [c for _, cs in fits.values() for c in cs]
    doubles = [mp.mpf(float(c)) for c in exact]
    diff = 0.0
    for names, cs in fits.values():
        values = [float(c) for c in cs]
        print(", ".join(names) + " = (")
        print(textwrap.fill(", ".join(map(repr, values)) + ",", 112, initial_indent="    ", subsequent_indent="    "))
        print(")")
        stored = [getattr(vmath, n) for n in names]
        diff = max([diff] + [abs(v - w) / abs(w) for v, w in zip(values, stored)])
    print(f"{name}: max relative error of {what} on the check grid: {mp.nstr(rel_error(exact), 3)} (exact "
          f"coefficients), {mp.nstr(rel_error(doubles), 3)} (rounded to double)")
    print(f"{name}: max relative difference from sadbench.model.vmath's constants: {diff:.3g}\n")


FITS = {"exp": fit_exp, "mills": fit_mills}

if __name__ == "__main__":
    which = sys.argv[1:] or ["all"]
    if len(which) != 1 or which[0] not in [*FITS, "all"]:
        sys.exit("usage: python tools/fit_vmath.py exp|mills|all")
    for name in FITS if which[0] == "all" else which:
        report(name, FITS[name])
