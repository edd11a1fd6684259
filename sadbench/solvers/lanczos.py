"""The flow's Jacobian -∇²L for large P as a low-rank model from Lanczos on exact Hessian-vector products.

A stiff method's linear systems are (I + c·∇²L) x = b. Only the eigenvalues with c·|λ| not small matter:
elsewhere the matrix is the identity to within c·|λ|. The network Hessians of divergent mse flows have few
such eigenvalues: on SAD 2D (GELU 2-20-40-20-1, P = 1741, 2000 points) between 10 and 40 of the 1741 at every
step size BDF takes to t = 1e4 (docs/cost-model.md). Lanczos with full reorthogonalisation finds the
extreme eigenvalues of both signs first, in m Hessian-vector products (O(nP) each), where the dense route
needs the Hessian (about P products) and a P × P eigendecomposition (O(P³), seconds at P ~ 2000).

The model is the Rayleigh–Ritz projection onto the Krylov space K, ∇²L ≈ U Θ Uᵀ (U: m orthonormal Ritz
vectors), so ``(I + c·UΘUᵀ)⁻¹ b = b − U diag(cθ/(1 + cθ)) Uᵀ b``: O(mP) for any c, like the dense
eigendecomposition, and never a refactorisation when h or the order changes. Simplified Newton with it
contracts at about c·(the largest residual ||∇²L u − θu|| of a Ritz pair, or |λ| of an eigenvalue outside K).
The iteration runs until every Ritz pair has c_ref·residual ≤ ``tol``; BDF asks for c_ref a few times its
current c, since the step grows between evaluations. Eigenvalues Lanczos has not reached by then, the inside
of a dense bulk near zero, are missing from the model: on SAD 1D at t = 100 (P = 461) a model for c_ref = 100
misses a bulk of |λ| ≤ 4e-3 and contracts at 0.34 at c = 100, 0.1 at c = 25 (tests/test_lanczos.py). What
the model misses, the method's Newton iteration sees in its exact residual and its measured rate.
Layout of the region: [kind = :data:`KIND`, m, Hessian-vector products of the last evaluation and of all
evaluations, U (m_max rows of P), Θ (m_max), scratch (P + m_max)].
"""

import math

import numpy as np

from sadbench.jit import compiled
from sadbench.solvers import products
from sadbench.solvers.vectors import copy, copy_rows, divide


#: The region's first entry; :mod:`sadbench.solvers.jacobian`'s dense regions hold 0 or 1 there.
KIND = 2.0
#: |1 + c·θ| below this is treated as singular (as in the dense Jacobian).
SINGULAR = 1e-10
_HEAD = 4
#: Lanczos steps between convergence checks (each an eigendecomposition of the m × m tridiagonal matrix).
CHECK_EVERY = 8


@compiled()
def region_size(P, m_max):
    return _HEAD + m_max * P + m_max + 2 * P + m_max


@compiled()
def _views(region, P, m_max):
    o = _HEAD
    U = region[o : o + m_max * P].reshape((m_max, P))
    o += m_max * P
    theta = region[o : o + m_max]
    w = region[o + m_max : o + m_max + P]
    shifted = region[o + m_max + P : o + m_max + 2 * P]
    coefs = region[o + m_max + 2 * P : o + 2 * m_max + 2 * P]
    return U, theta, w, shifted, coefs


@compiled()
def _m_max(region, P):
    """m_max from the region's length (it is not stored: the length is the layout)."""
    return (region.size - _HEAD - 2 * P) // (P + 2)


@compiled()
def _start(v):
    """A fixed pseudo-random unit start vector (Weyl sequence): reproducible runs, and no direction of
    the parameter layout favoured or missed."""
    s = 0.0
    for p in range(v.size):
        x = (p + 1) * 0.6180339887498949
        v[p] = x - math.floor(x) - 0.5
        s += v[p] * v[p]
    divide(v, math.sqrt(s))


@compiled()
def _ritz(alpha, beta, k):
    """Eigenvalues and eigenvectors of the k × k Lanczos tridiagonal matrix."""
    T = np.zeros((k, k))
    for i in range(k):
        T[i, i] = alpha[i]
        if i + 1 < k:
            T[i, i + 1] = beta[i]
            T[i + 1, i] = beta[i]
    return np.linalg.eigh(T)


@compiled()
def _converged(vectors, beta_last, c_ref, tol):
    """Every Ritz pair has c_ref·residual ≤ tol. The residual bounds the distance to an eigenvalue, so an
    unconverged pair may stand for an eigenvalue that matters at c_ref whatever its Ritz value; the pairs of
    the bulk near zero converge early, their residuals being as small as their eigenvalues."""
    k = vectors.shape[0]
    for i in range(k):
        if c_ref * abs(beta_last * vectors[k - 1, i]) > tol:
            return False
    return True


@compiled()
def evaluate(functions, prob, y, f, region, c_ref, tol, difference):
    """Lanczos on ∇²L(y) until the model is accurate for c up to ``c_ref`` (or m_max steps); store the Ritz
    pairs. ``f`` is −∇L(y); ``difference``: products by differences of gradients
    (:func:`sadbench.solvers.products.product`). Returns (whether the products were finite, products used)."""
    P = y.size
    m_max = _m_max(region, P)
    U, theta, w, shifted, coefs = _views(region, P, m_max)
    Q = U  # the Lanczos vectors, replaced by the Ritz vectors at the end
    alpha = np.zeros(m_max)
    beta = np.zeros(m_max)
    _start(Q[0])
    k = 0
    used = 0
    while k < m_max:
        products.product(functions, prob, y, f, Q[k], w, shifted, difference)
        used += 1
        a = 0.0
        for p in range(P):
            a += Q[k, p] * w[p]
        if not math.isfinite(a):
            return False, used
        alpha[k] = a
        k += 1
        # Full reorthogonalisation, twice (classical Gram–Schmidt): the three-term recurrence alone loses
        # orthogonality as Ritz values converge, and m·P per step is cheap next to a product.
        basis = Q[:k]
        for _ in range(2):
            np.dot(basis, w, coefs[:k])
            for i in range(k):
                ci = coefs[i]
                for p in range(P):
                    w[p] -= ci * basis[i, p]
        b = 0.0
        for p in range(P):
            b += w[p] * w[p]
        b = math.sqrt(b)
        beta[k - 1] = b
        scale = 0.0
        for i in range(k):
            scale = max(scale, abs(alpha[i]))
        invariant = b <= 1e-12 * scale or b == 0.0
        if invariant or k == m_max:
            break
        if k % CHECK_EVERY == 0:
            values, vectors = _ritz(alpha, beta, k)
            if _converged(vectors, b, c_ref, tol):
                break
        for p in range(P):
            Q[k, p] = w[p] / b
    values, vectors = _ritz(alpha, beta, k)
    ritz = np.dot(vectors.T, Q[:k])
    copy_rows(U, ritz, k)
    copy(theta[:k], values)
    region[0] = KIND
    region[1] = k
    region[2] = used
    region[3] += used
    return True, used


@compiled()
def solve(region, c, b, out):
    """out = (I + c·UΘUᵀ)⁻¹ b; False if 1 + cθ is (near) zero for a Ritz value."""
    P = b.size
    m_max = _m_max(region, P)
    U, theta, _, _, coefs = _views(region, P, m_max)
    k = int(region[1])
    for i in range(k):
        if abs(1.0 + c * theta[i]) < SINGULAR:
            return False
    np.dot(U[:k], b, coefs[:k])
    copy(out, b)
    for i in range(k):
        ci = coefs[i] * (c * theta[i] / (1.0 + c * theta[i]))
        for p in range(P):
            out[p] -= ci * U[i, p]
    return True


@compiled()
def ritz_values(region, P):
    """The stored Ritz values, ascending."""
    m_max = _m_max(region, P)
    return region[_HEAD + m_max * P : _HEAD + m_max * P + int(region[1])]


@compiled()
def spectral_radius(region, P):
    """max |θ| of the stored Ritz values: the extreme eigenvalues, which Lanczos finds first."""
    values = ritz_values(region, P)
    rho = 0.0
    for i in range(values.size):
        rho = max(rho, abs(values[i]))
    return rho


@compiled()
def cost(region):
    """Hessian-vector products the stored model cost: what a re-evaluation will cost again."""
    return region[2]
