"""The flow's Jacobian -∇²L, kept as an eigendecomposition ∇²L = Q Λ Qᵀ in a method's work vector.

The Hessian is symmetric, so one eigendecomposition per Jacobian evaluation makes every linear system a
stiff method needs, (I + c·∇²L) x = b, cost O(P²) for *any* c: a step-size or order change never forces a
refactorisation, which with LU factors (scipy's BDF, LSODA) is what costs most. Layout of the region:
Q (P·P, row-major), Λ (P), scratch (P).
"""

import math

import numpy as np
from numba import njit

#: |1 + c·λ| below this is treated as singular (the step crosses an unstable mode's time scale).
SINGULAR = 1e-10


@njit(cache=True)
def jacobian_size(P):
    return P * P + 2 * P


@njit(cache=True)
def evaluate(functions, prob, y, jac):
    """Evaluate ∇²L(y) and store its eigendecomposition; False if the Hessian is not finite (no σ″)."""
    P = y.size
    Q = jac[: P * P].reshape((P, P))
    loss = functions[2](prob, y, Q)
    if not math.isfinite(loss):
        return False
    for p in range(P):
        for q in range(P):
            if not math.isfinite(Q[p, q]):
                return False
    lam, vectors = np.linalg.eigh(Q)
    Q[:, :] = vectors
    jac[P * P : P * P + P] = lam
    return True


@njit(cache=True)
def spectral_radius(jac, P):
    """max |λ| of the stored Hessian (eigenvalues are stored in ascending order)."""
    lam = jac[P * P : P * P + P]
    return max(abs(lam[0]), abs(lam[P - 1]))


@njit(cache=True)
def solve(jac, c, b, out):
    """out = (I + c·∇²L)⁻¹ b with the stored eigendecomposition; False if the matrix is (near) singular."""
    P = b.size
    Q = jac[: P * P].reshape((P, P))
    lam = jac[P * P : P * P + P]
    tmp = jac[P * P + P : P * P + 2 * P]
    np.dot(Q.T, b, tmp)
    for p in range(P):
        denominator = 1.0 + c * lam[p]
        if abs(denominator) < SINGULAR:
            return False
        tmp[p] /= denominator
    np.dot(Q, tmp, out)
    return True
