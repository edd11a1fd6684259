"""Accuracy, special values and vectorisation of sadbench.model.vmath.

Every function is evaluated inside a compiled loop (the way the kernels use it, with the kernels' fast-math
flags around it), over dense grids covering the whole double range, tails, ±0, subnormal inputs and results,
±inf and NaN. References: numpy (glibc, < 1 ulp) for exp, expm1, log, log1p, tanh and the logistic
function; scipy.special where it is accurate; mpmath (when installed) for erf, erfc, Φ, φ over their whole
range, including the tails scipy loses. Errors are measured in ulps of the reference (the spacing at the
reference value, at least the smallest subnormal).
"""

import math

import numpy as np
import pytest
import scipy.special as sc
from numba import njit

from sadbench import get_registry
from sadbench.model import vmath

FASTMATH = {"reassoc", "contract", "arcp", "nsz"}  # the kernels' flags: vmath must keep its own inside them
_LOOPS = {}


def evaluate(name, x):
    """vmath.<name> over x, in a compiled loop."""
    if name not in _LOOPS:
        fn = getattr(vmath, name)

        @njit(fastmath=FASTMATH, error_model="numpy")
        def loop(xs, out):
            for i in range(xs.size):
                out[i] = fn(xs[i])

        _LOOPS[name] = loop
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty_like(x)
    _LOOPS[name](x, out)
    return out


def ulps(got, ref):
    """Error in ulps of the reference; equal values (including two NaNs, equal infinities) count 0."""
    got, ref = np.asarray(got, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    same = (got == ref) | (np.isnan(got) & np.isnan(ref))
    with np.errstate(invalid="ignore"):
        err = np.abs(got - ref) / np.maximum(np.spacing(np.abs(ref)), 5e-324)
    return np.where(same, 0.0, err)


def assert_ulps(name, x, got, ref, bound):
    err = ulps(got, ref)
    worst = int(np.argmax(err))
    assert err[worst] <= bound, (
        f"{name}({x[worst]!r}) = {got[worst]!r}, reference {ref[worst]!r}: {err[worst]:.1f} ulp > {bound}"
    )


RNG = np.random.default_rng(20240607)


def grid(lo, hi, n=40001):
    """A dense linear grid plus random points and the log-spaced small magnitudes of both signs."""
    tiny = np.geomspace(1e-320, 1.0, 2000)
    return np.concatenate([np.linspace(lo, hi, n), RNG.uniform(lo, hi, n), tiny, -tiny])


# --- against numpy ---------------------------------------------------------------------------------------

NUMPY_CASES = {
    # name: (reference, x, max ulp)
    "exp": (np.exp, np.concatenate([grid(-746.0, 710.0), RNG.uniform(-1, 1, 20000)]), 2),
    "expm1": (np.expm1, np.concatenate([grid(-50.0, 710.0), RNG.uniform(-1, 1, 20000)]), 3),
    "log": (np.log, np.concatenate([np.geomspace(5e-324, 1.7e308, 60001), RNG.uniform(0.5, 2.0, 20000)]), 2),
    "log1p": (np.log1p, np.concatenate([np.geomspace(1e-300, 1.7e308, 60001), -np.geomspace(1e-300, 1, 20001)[1:],
                                        RNG.uniform(-1.0, 3.0, 20000)]), 2),
    "tanh": (np.tanh, grid(-30.0, 30.0), 3),
    "logistic": (lambda x: np.where(x < 0, np.exp(x) / (1.0 + np.exp(x)), 1.0 / (1.0 + np.exp(-x))),
                 grid(-750.0, 750.0), 4),  # scipy's expit flushes to 0 below -709
    "softplus": (lambda x: np.logaddexp(0.0, x), grid(-750.0, 750.0), 3),
}


@pytest.mark.parametrize("name", sorted(NUMPY_CASES))
def test_accuracy_against_numpy(name):
    ref_fn, x, bound = NUMPY_CASES[name]
    with np.errstate(all="ignore"):
        ref = ref_fn(x)
    assert_ulps(name, x, evaluate(name, x), ref, bound)


_PAIRS = {}


def evaluate_pair(name, x):
    """The two results of vmath.<name> over x, in a compiled loop."""
    if name not in _PAIRS:
        fn = getattr(vmath, name)

        @njit(fastmath=FASTMATH, error_model="numpy")
        def loop(xs, out):
            for i in range(xs.size):
                a, b = fn(xs[i])
                out[0, i] = a
                out[1, i] = b

        _PAIRS[name] = loop
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.empty((2, x.size))
    _PAIRS[name](x, out)
    return out


def test_exp_expm1_pair_matches_the_single_functions():
    x = grid(-746.0, 710.0)
    e, m = evaluate_pair("exp_expm1", x)
    with np.errstate(over="ignore"):
        assert_ulps("exp", x, e, np.exp(x), 2)
        assert_ulps("expm1", x, m, np.expm1(x), 3)
    neg = -np.abs(x)
    e, m = evaluate_pair("exp_expm1_neg", neg)
    assert_ulps("exp", neg, e, np.exp(neg), 2)
    assert_ulps("expm1", neg, m, np.expm1(neg), 3)


def test_exp_at_the_reduction_boundaries():
    """x = (j + ½)·ln2 ± a few ulp, every j over the range: there |r| is largest (the edge of the fitted
    polynomial's interval) and k = round(x/ln2) flips (SHIFT rounding)."""
    j = np.arange(-1075, 1024)
    mid = (j + 0.5) * math.log(2.0)
    x = np.concatenate([mid + np.spacing(mid) * d for d in (-3, -1, 0, 1, 3)])
    x = x[(x > -746.0) & (x < 709.7)]
    with np.errstate(under="ignore"):
        assert_ulps("exp", x, evaluate("exp", x), np.exp(x), 2)
        assert_ulps("expm1", x, evaluate("expm1", x), np.expm1(x), 3)
        neg = x[x <= 0]
        e, m = evaluate_pair("exp_expm1_neg", neg)
        assert_ulps("exp", neg, e, np.exp(neg), 2)
        assert_ulps("expm1", neg, m, np.expm1(neg), 3)


# --- erf, erfc, Φ, φ ---------------------------------------------------------------------------------------

def test_erf_against_scipy():
    # scipy.special's erf is accurate; its erfc is not a reference (9 ulp at 0.97, 68 at 8.8, measured against
    # mpmath), so erfc is checked against mpmath below.
    x = grid(-6.0, 6.0)
    assert_ulps("erf", x, evaluate("erf", x), sc.erf(x), 3)


def test_ndtr_and_pdf_against_scipy_where_it_is_accurate():
    # scipy.special.ndtr loses accuracy in its left tail (7 ulp at -1.6, 300 at -14): mpmath checks it.
    x = grid(-1.0, 9.0)
    assert_ulps("ndtr", x, evaluate("ndtr", x), sc.ndtr(x), 6)
    with np.errstate(under="ignore"):
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
    small = np.abs(x) < 1.0  # numpy's exp(-x²/2) rounds x² first: only a reference where x² is small
    assert_ulps("normal_pdf", x[small], evaluate("normal_pdf", x[small]), pdf[small], 3)


@pytest.fixture(scope="module")
def mp():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.prec = 120
    return mpmath


def _mp_reference(mp, fn, x):
    return np.array([float(fn(mp.mpf(float(v)))) for v in x])


MP_CASES = {
    # name: (mpmath function, x, max ulp); the whole range, tails included
    "erf": (lambda mp: mp.erf, np.concatenate([np.linspace(-7, 7, 2801), np.geomspace(1e-310, 1, 200)]), 2),
    "erfc": (lambda mp: mp.erfc, np.concatenate([np.linspace(-7, 27.3, 3431), np.geomspace(1e-310, 1, 100)]), 3),
    "ndtr": (lambda mp: mp.ncdf, np.concatenate([np.linspace(-38.5, 9, 3801), np.geomspace(1e-310, 1, 100),
                                                 RNG.uniform(-38.6, 0.0, 2000)]), 5),
    "normal_pdf": (lambda mp: mp.npdf, np.concatenate([np.linspace(-38.6, 38.6, 3861),
                                                       RNG.uniform(-9, 9, 1000)]), 2),
    "tanh": (lambda mp: mp.tanh, np.concatenate([np.linspace(-20, 20, 2001), np.geomspace(1e-310, 1, 200)]), 3),
    "expm1": (lambda mp: mp.expm1, np.concatenate([np.linspace(-40, 709.7, 3001), np.geomspace(1e-310, 1, 200)]), 3),
    "log1p": (lambda mp: mp.log1p, np.concatenate([np.geomspace(1e-310, 1e300, 1001), -np.geomspace(1e-310, 0.999, 500)]), 2),
}


@pytest.mark.parametrize("name", sorted(MP_CASES))
def test_accuracy_against_mpmath(mp, name):
    fn, x, bound = MP_CASES[name]
    assert_ulps(name, x, evaluate(name, x), _mp_reference(mp, fn(mp), x), bound)


def test_ndtr_pdf_pairs_match_the_single_functions():
    """ndtr_pdf is (ndtr, normal_pdf) bit for bit, and ndtr_pdf_no_nan (GELU's) equals it except at NaN."""
    x = np.concatenate([grid(-40.0, 40.0, 20001), [math.inf, -math.inf, 0.0, -0.0, 38.6, -38.6, 1e300]])
    cdf, pdf = evaluate_pair("ndtr_pdf", x)
    np.testing.assert_array_equal(cdf, evaluate("ndtr", x))
    np.testing.assert_array_equal(pdf, evaluate("normal_pdf", x))
    np.testing.assert_array_equal(evaluate_pair("ndtr_pdf_no_nan", x), [cdf, pdf])


def test_normal_pdf_at_the_reduction_boundaries(mp):
    """t with t²/2 = (j + ½)·ln2 (|r| largest in φ's exponential) for every j up to the clamp, and the
    subnormal results below it, against mpmath."""
    j = np.arange(0, 1075)
    t = np.sqrt(2.0 * (j + 0.5) * math.log(2.0))
    t = np.concatenate([t, np.nextafter(t, 0.0), np.linspace(37.5, 38.6, 201)])
    assert_ulps("normal_pdf", t, evaluate("normal_pdf", t), _mp_reference(mp, mp.npdf, t), 2)


def _horner(coefficients, x):
    """Σ c_j·x^(n-j) for coefficients c_0..c_n, highest power first (mpmath's polyval warns on that order)."""
    total = 0
    for c in coefficients:
        total = total * x + c
    return total


def test_fitted_coefficients_meet_their_bounds(mp):
    """The stored approximations themselves (double coefficients, evaluated in mpmath: no rounding of the
    evaluation) against what they approximate, within the errors vmath's comments state, so that a mistyped
    coefficient is caught where it is, not as a few ulp somewhere (tools/fit_vmath.py regenerates them):
    expm1(r) = r + r²·(1/2 + r·E(r)) to 1.25e-16·r² on |r| ≤ 1.003·ln2/2, and the Mills ratio
    P/(t·P + D) to the rounding of P(0) = √(π/2) (8e-17 relative) on [0, 38.6]."""
    e = [mp.mpf(getattr(vmath, f"E{j}")) for j in range(9, 0, -1)]
    a = mp.log(2) / 2 * mp.mpf("1.003")
    for r in mp.linspace(-a, a, 1000):  # even count: no r = 0
        assert abs(r**2 * (0.5 + r * _horner(e, r)) - (mp.expm1(r) - r)) < 1.25e-16 * r**2, f"expm1({r})"
    p = [mp.mpf(getattr(vmath, f"MP{j}")) for j in range(10, -1, -1)]
    d = [mp.mpf(getattr(vmath, f"MD{j}")) for j in range(9, 0, -1)] + [1]
    for t in np.concatenate([np.linspace(0.0, vmath.NDTR_CLAMP, 1000), np.linspace(0.0, 2.0, 201)]):
        t = mp.mpf(float(t))
        mills = _horner(p, t) / (t * _horner(p, t) + _horner(d, t))
        assert abs(mills / (mp.ncdf(-t) / mp.npdf(t)) - 1) < 8e-17, f"Mills ratio at t = {t}"


def test_erf_tail_is_accurate_relative_to_erfc():
    """Near |x| = 6 erf is 1 to double precision; what is left must be erfc's to the same relative
    accuracy: 1 - erf(x) for x up to 5.9 and erfc(x) for larger x agree with erfc."""
    x = np.linspace(0.5, 5.9, 5401)
    one_minus = 1.0 - evaluate("erf", x)
    ref = sc.erfc(x)
    # 1 - erf(x) is exact when erf(x) ≥ 1/2, so its error is erf's absolute error, ≤ 2 ulp of 1
    assert np.all(np.abs(one_minus - ref) <= 2 * np.spacing(1.0) + 4 * np.spacing(ref))


# --- special values ----------------------------------------------------------------------------------------

NAN, INF = math.nan, math.inf
SPECIAL = {
    # name: [(x, expected)]; zeros are compared with their sign (a list: 0.0 and -0.0 are one dict key)
    "exp": [(INF, INF), (-INF, 0.0), (0.0, 1.0), (-0.0, 1.0), (710.0, INF), (-746.0, 0.0),
            (709.78, 1.7928227943945155e308)],
    "expm1": [(INF, INF), (-INF, -1.0), (0.0, 0.0), (-0.0, -0.0), (5e-324, 5e-324), (-5e-324, -5e-324),
              (-40.0, -1.0)],
    "log": [(INF, INF), (0.0, -INF), (-0.0, -INF), (-1.0, NAN), (-INF, NAN), (1.0, 0.0),
            (5e-324, -744.4400719213812)],
    "log1p": [(INF, INF), (-1.0, -INF), (-2.0, NAN), (-INF, NAN), (0.0, 0.0), (-0.0, -0.0), (5e-324, 5e-324)],
    "tanh": [(INF, 1.0), (-INF, -1.0), (0.0, 0.0), (-0.0, -0.0), (5e-324, 5e-324), (-5e-324, -5e-324),
             (400.0, 1.0)],
    "logistic": [(INF, 1.0), (-INF, 0.0), (0.0, 0.5), (-0.0, 0.5), (-750.0, 0.0), (750.0, 1.0)],
    "softplus": [(INF, INF), (-INF, 0.0), (0.0, math.log(2.0)), (-750.0, 0.0), (750.0, 750.0)],
    "erf": [(INF, 1.0), (-INF, -1.0), (0.0, 0.0), (-0.0, -0.0), (5e-324, 5e-324),
            (1e-310, 1.1283791670955126e-310)],
    "erfc": [(INF, 0.0), (-INF, 2.0), (0.0, 1.0), (-0.0, 1.0), (30.0, 0.0), (-30.0, 2.0)],
    "ndtr": [(INF, 1.0), (-INF, 0.0), (0.0, 0.5), (-0.0, 0.5), (-40.0, 0.0), (40.0, 1.0), (-38.6, 0.0),
             (38.6, 1.0)],
    "normal_pdf": [(INF, 0.0), (-INF, 0.0), (0.0, 0.3989422804014327), (40.0, 0.0), (1e200, 0.0), (38.6, 0.0),
                   (-38.6, 0.0)],
}


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special_values(name):
    x, expected = np.array(SPECIAL[name], dtype=np.float64).T
    got = evaluate(name, x)
    for xi, gi, ei in zip(x, got, expected):
        if math.isnan(ei):
            assert math.isnan(gi), f"{name}({xi!r}) = {gi!r}, expected NaN"
        else:
            assert gi == ei or ulps(gi, ei) <= 2, f"{name}({xi!r}) = {gi!r}, expected {ei!r}"
            if ei == 0.0:
                assert math.copysign(1.0, gi) == math.copysign(1.0, ei), f"{name}({xi!r}) has the wrong zero sign"


@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_nan_propagates(name):
    """Non-finite values must reach the integrator: NaN in, NaN out, also in a vectorised loop."""
    x = np.full(37, 0.5)
    x[[0, 5, 17, 36]] = np.nan
    got = evaluate(name, x)
    assert np.all(np.isnan(got[[0, 5, 17, 36]])) and not np.any(np.isnan(np.delete(got, [0, 5, 17, 36])))


SMOOTH_ACTIVATIONS = ("gelu", "tanh", "softplus", "silu", "logistic", "mish")


@pytest.mark.parametrize("name", SMOOTH_ACTIVATIONS)
def test_activations_propagate_nan(name):
    """The built-in smooth activations on vmath (GELU on ndtr_pdf_no_nan, which leaves NaN to the factor x):
    σ, σ′ and σ″ of NaN are NaN in a vectorised loop, and finite elsewhere."""
    spec = get_registry().get("activation", name)
    x = np.linspace(-40.0, 40.0, 37)
    x[[0, 5, 17, 36]] = np.nan
    for fn in (spec.f, spec.df, spec.d2f):

        @njit(error_model="numpy")
        def loop(xs, out):
            for i in range(xs.size):
                out[i] = fn(xs[i])

        got = np.empty_like(x)
        loop(x, got)
        assert np.array_equal(np.isnan(got), np.isnan(x)), f"{name}: {fn.__name__} of NaN / finite x"


def test_subnormal_results():
    x = np.array([-708.5, -720.0, -740.0, -744.4, -745.1])
    assert_ulps("exp", x, evaluate("exp", x), np.exp(x), 1)
    assert np.all(evaluate("exp", x) > 0)
    # exp_expm1_neg forms 2^k as one prescaled factor: subnormal results must still round once
    x = np.concatenate([x, RNG.uniform(-745.2, -708.0, 2000)])
    assert_ulps("exp", x, evaluate_pair("exp_expm1_neg", x)[0], np.exp(x), 1)


# --- vectorisation -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_loops_vectorise_without_libm_calls(name):
    """The loop the kernels write must become vector code: no call left in it, vector types in the IR."""
    evaluate(name, np.linspace(-3.0, 3.0, 64))
    (ir,) = _LOOPS[name].inspect_llvm().values()
    body = ir[ir.index("define") : ir.index("define", ir.index("define") + 1)]
    assert "x double>" in body, f"{name}: no vector instructions in the loop"
    calls = [line for line in body.splitlines() if " call " in line and "@llvm." not in line]
    assert not calls, f"{name}: the loop still calls {calls[0].strip()}"
