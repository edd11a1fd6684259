"""The flow's Jacobian -∇²L, kept as an eigendecomposition ∇²L = Q Λ Qᵀ in a method's work vector.

The Hessian is symmetric, so one eigendecomposition per Jacobian evaluation makes every linear system a
stiff method needs, (I + c·∇²L) x = b, cost O(P²) for *any* c: a step-size or order change never forces a
refactorisation, which with LU factors (scipy's BDF, LSODA) is what costs most.

The two products with Q stream P² numbers from memory, which is what a solve costs. Methods that only use
the solve inside an iteration on the float64 residual (Newton, preconditioned GMRES) can keep Q in float32:
its 6e-8 rounding only perturbs the iteration matrix, and at P = 461 the solve drops from 79 to 32 µs
(Q fits the 1 MB L2). Methods whose result is the solve itself (Rosenbrock) keep float64.

Layout of the region: [precision flag, Q (P·P float64 slots; float32 uses the first half), Λ (P),
scratch (3P)].
"""

import math

import numpy as np

from sadbench.jit import compiled
from sadbench.solvers import lanczos
from sadbench.solvers.vectors import copy, copy_rows, fill


#: |1 + c·λ| below this is treated as singular (the step crosses an unstable mode's time scale).
SINGULAR = 1e-10


@compiled()
def jacobian_size(P):
    return 1 + P * P + 4 * P


@compiled()
def _views(jac, P):
    """Q in float64 and in float32 (the same memory), Λ, a float64 and three float32 scratch vectors."""
    Q = jac[1 : 1 + P * P].reshape((P, P))
    Q32 = jac[1 : 1 + P * P].view(np.float32)[: P * P].reshape((P, P))
    lam = jac[1 + P * P : 1 + P * P + P]
    tmp = jac[1 + P * P + P : 1 + P * P + 2 * P]
    single = jac[1 + P * P + 2 * P : 1 + P * P + 4 * P].view(np.float32)
    return Q, Q32, lam, tmp, single[:P], single[P : 2 * P], single[2 * P : 3 * P]


@compiled()
def evaluate(functions, prob, y, jac, single):
    """Evaluate ∇²L(y) and store its eigendecomposition (Q in float32 if ``single``); False if the Hessian
    is not finite (no σ″)."""
    P = y.size
    Q, Q32, lam, _, _, _, _ = _views(jac, P)
    loss = functions[2](prob, y, Q)
    if not math.isfinite(loss):
        return False
    for p in range(P):
        for q in range(P):
            if not math.isfinite(Q[p, q]):
                return False
    values, vectors = np.linalg.eigh(Q)
    if single:
        for p in range(P):
            for q in range(P):
                Q32[p, q] = vectors[p, q]
        fill(jac[1 + (P * P + 1) // 2 : 1 + P * P], 0.0)  # the unused half: zeros compress in a stored run state
    else:
        copy_rows(Q, vectors, P)
    copy(lam, values)
    jac[0] = 1.0 if single else 0.0
    return True


@compiled()
def spectral_radius(jac, P):
    """max |λ| of the stored Hessian (eigenvalues are stored in ascending order), or of a Lanczos model."""
    if jac[0] == lanczos.KIND:
        return lanczos.spectral_radius(jac, P)
    lam = jac[1 + P * P : 1 + P * P + P]
    return max(abs(lam[0]), abs(lam[P - 1]))


@compiled()
def solve(jac, c, b, out):
    """out = (I + c·∇²L)⁻¹ b with the stored eigendecomposition (or low-rank Lanczos model,
    :mod:`sadbench.solvers.lanczos`); False if the matrix is (near) singular."""
    if jac[0] == lanczos.KIND:
        return lanczos.solve(jac, c, b, out)
    P = b.size
    Q, Q32, lam, tmp, b32, tmp32, out32 = _views(jac, P)
    for p in range(P):
        if abs(1.0 + c * lam[p]) < SINGULAR:
            return False
    if jac[0] > 0.0:
        for p in range(P):
            b32[p] = b[p]
        np.dot(Q32.T, b32, tmp32)
        for p in range(P):
            tmp32[p] = tmp32[p] / (1.0 + c * lam[p])
        np.dot(Q32, tmp32, out32)
        for p in range(P):
            out[p] = out32[p]
        return True
    np.dot(Q.T, b, tmp)
    for p in range(P):
        tmp[p] /= 1.0 + c * lam[p]
    np.dot(Q, tmp, out)
    return True
