"""Shapes the premises rest on, measured rather than declared: an activation's monotonicity, parity and
polynomial form on a grid, and the exact polynomial degree of a data set's labels.

An activation plugin declares ``sad``, ``smooth`` and ``homogeneous`` (properties no grid can verify); what
a grid can check is checked here, for any plugin alike.
"""

import math
from functools import lru_cache
from itertools import combinations_with_replacement

import numpy as np
from numpy.polynomial import legendre

_GRID = np.linspace(-8.0, 8.0, 1601)
# A fit is exact when its relative residual is at rounding level (float64 labels of a polynomial fit to
# ~1e-13) *and* falls off a cliff from the degree below: an analytic function such as tanh(2x) is also
# approximated to 1e-11 by a polynomial of degree 27 on [-1, 1], but its residuals shrink by a steady factor
# per degree (about 2 for tanh(2x), up to ~40 at degree 20 for entire functions), never 1000 at once.
_EXACT = 1e-11
_CLIFF = 1e3
_MAX_COEFFICIENTS = 1500  # the largest polynomial basis tried (its least-squares fit costs ~ its cube)
MAX_DEGREE = 40


@lru_cache(maxsize=None)
def _shape(f, df):
    y = np.array([f(x) for x in _GRID])
    dy = np.array([df(x) for x in _GRID])
    scale = max(1.0, float(np.max(np.abs(y))))
    affine_fit = np.polyval(np.polyfit(_GRID, y, 1), _GRID)
    poly_fit = legendre.legval(_GRID / 8.0, legendre.legfit(_GRID / 8.0, y, 8))
    return {
        "increasing": bool(np.all(dy > 0.0)),
        "odd": bool(np.max(np.abs(y + y[::-1])) <= 1e-12 * scale),
        "affine": bool(np.max(np.abs(y - affine_fit)) <= 1e-12 * scale),
        "polynomial": bool(np.max(np.abs(y - poly_fit)) <= 1e-10 * scale),
    }


def activation_shape(activation):
    """{"increasing", "odd", "affine", "polynomial"} of σ on [-8, 8] (1601 points): σ′ > 0 everywhere, σ(-x)
    = -σ(x), σ affine, σ a polynomial of degree ≤ 8 (then every network is a polynomial of bounded degree and
    the SAD theorems do not apply)."""
    return dict(_shape(activation.f, activation.df))


def _monomials(d, degree):
    """Multi-indices (one exponent per input) of total degree ≤ ``degree``."""
    out = []
    for k in range(degree + 1):
        for combo in combinations_with_replacement(range(d), k):
            out.append(np.bincount(np.array(combo, dtype=int), minlength=d))
    return np.array(out).reshape(-1, d)


def _basis(U, exponents):
    """Products of Legendre polynomials P_e(u) (inputs scaled to [-1, 1]): well conditioned where monomials
    of degree 10 and more are not."""
    top = int(exponents.max()) if exponents.size else 0
    values = [legendre.legvander(U[:, j], top) for j in range(U.shape[1])]
    B = np.ones((len(U), len(exponents)))
    for j in range(U.shape[1]):
        B *= values[j][:, exponents[:, j]]
    return B


def _least_squares(B, Y):
    """The least-squares coefficients of B c ≈ Y by the normal equations with iterative refinement (each
    round divides the error by ~1/(cond(B)²·eps); with Legendre bases cond(B) ≲ 1e5, so four rounds reach
    rounding level), several times faster than an SVD; None when B is numerically rank deficient."""
    G = B.T @ B
    try:
        np.linalg.cholesky(G)
    except np.linalg.LinAlgError:
        return None
    inverse = np.linalg.inv(G)
    coefficients = inverse @ (B.T @ Y)
    for _ in range(4):
        coefficients += inverse @ (B.T @ (Y - B @ coefficients))
    return coefficients


def polynomial_degree(X, Y):
    """(degree, tested): the smallest total degree of a polynomial that fits every label column exactly, and
    the largest degree tried (its basis must be smaller than the number of points, so that an exact fit says
    something); degree is None when none up to ``tested`` fits.

    Inputs are scaled to [-1, 1] per coordinate (constant coordinates dropped), which keeps degrees; each fit
    is computed on a subset of about twice the basis size and checked on every point. A basis that is
    degenerate on the points (a grid with fewer values per axis than the degree) ends the search."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    lo, hi = X.min(axis=0), X.max(axis=0)
    varying = hi > lo
    U = (2.0 * X[:, varying] - (hi + lo)[varying]) / (hi - lo)[varying]
    n, d = U.shape
    scale = float(np.sqrt(np.mean((Y - Y.mean(axis=0)) ** 2))) or 1.0
    order = np.random.default_rng(0).permutation(n)
    tested, previous = -1, math.inf
    for degree in range(MAX_DEGREE + 1):
        size = math.comb(degree + d, d)
        if size >= n or size > _MAX_COEFFICIENTS:
            break
        exponents = _monomials(d, degree)
        subset = order[: min(n, 2 * size + 20)]
        coefficients = _least_squares(_basis(U[subset], exponents), Y[subset])
        if coefficients is None:
            return None, degree - 1
        tested = degree
        residual = float(np.sqrt(np.mean((Y - _basis(U, exponents) @ coefficients) ** 2)))
        if residual <= _EXACT * scale and previous >= _CLIFF * residual:
            return degree, tested
        previous = residual
    return None, tested
