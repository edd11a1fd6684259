"""GMRES for (I + c·∇²L(y)) x = r with Hessian-vector products (exact, or differences of gradients:
:mod:`sadbench.solvers.products`), right-preconditioned by a stale Jacobian, dense or low-rank
(:mod:`sadbench.solvers.jacobian`, :mod:`sadbench.solvers.lanczos`).

A Jacobian evaluation (P Hessian-vector products and an O(P³) eigendecomposition) costs hundreds of
gradients at P ~ 500; a stale one still makes an excellent preconditioner, since (I + cH_old)⁻¹(I + cH) is
the identity plus what changed. A few products with the current Hessian then give Newton's exact step,
so a Jacobian is re-evaluated only when this stops working, not whenever simplified Newton slows down.
"""

import math

import numpy as np

from sadbench.jit import compiled
from sadbench.solvers import jacobian
from sadbench.solvers import products
from sadbench.solvers.vectors import axpy, back_substitute, divide, dot


@compiled()
def krylov_size(P, m):
    return (2 * m + 4) * P


@compiled()
def gradient_slot(space, P):
    """Where the caller keeps −∇L(y) for products by differences (the last P floats of ``space``)."""
    return space[space.size - P :]


@compiled()
def gmres(functions, prob, y, difference, c, jac, r, x, space, m, eta):
    """Solve (I + c·∇²L(y)) x = r to relative residual ``eta`` in at most ``m`` iterations, starting from the
    preconditioned guess; ``space`` holds :func:`krylov_size` floats, −∇L(y) in its :func:`gradient_slot`
    when ``difference``. Returns (converged, Hessian-vector products)."""
    P = r.size
    V = space[: (m + 1) * P].reshape((m + 1, P))
    Z = space[(m + 1) * P : (2 * m + 1) * P].reshape((m, P))
    Hv = space[(2 * m + 1) * P : (2 * m + 2) * P]
    shifted = space[(2 * m + 2) * P : (2 * m + 3) * P]
    f = gradient_slot(space, P)
    if not jacobian.solve(jac, c, r, x):
        return False, 0
    products.product(functions, prob, y, f, x, Hv, shifted, difference)
    used = 1
    r_norm = math.sqrt(dot(r, r))
    for p in range(P):
        V[0, p] = r[p] - x[p] - c * Hv[p]
    beta = math.sqrt(dot(V[0], V[0]))
    if beta <= eta * r_norm:
        return True, used
    if not math.isfinite(beta):
        return False, used
    divide(V[0], beta)
    Hm = np.zeros((m + 1, m))
    cs = np.zeros(m)
    sn = np.zeros(m)
    g = np.zeros(m + 1)
    g[0] = beta
    k = 0
    for j in range(m):
        if not jacobian.solve(jac, c, V[j], Z[j]):
            return False, used
        products.product(functions, prob, y, f, Z[j], Hv, shifted, difference)
        used += 1
        w = V[j + 1]
        for p in range(P):
            w[p] = Z[j, p] + c * Hv[p]
        for i in range(j + 1):
            Hm[i, j] = dot(w, V[i])
            for p in range(P):
                w[p] -= Hm[i, j] * V[i, p]
        Hm[j + 1, j] = math.sqrt(dot(w, w))
        if Hm[j + 1, j] > 0.0:
            divide(w, Hm[j + 1, j])
        for i in range(j):
            a, b = Hm[i, j], Hm[i + 1, j]
            Hm[i, j] = cs[i] * a + sn[i] * b
            Hm[i + 1, j] = -sn[i] * a + cs[i] * b
        denominator = math.hypot(Hm[j, j], Hm[j + 1, j])
        if denominator == 0.0:
            return False, used
        cs[j] = Hm[j, j] / denominator
        sn[j] = Hm[j + 1, j] / denominator
        Hm[j, j] = denominator
        Hm[j + 1, j] = 0.0
        g[j + 1] = -sn[j] * g[j]
        g[j] = cs[j] * g[j]
        k = j + 1
        if abs(g[j + 1]) <= eta * r_norm:
            break
    coefficients = back_substitute(Hm, g, k)
    for i in range(k):
        axpy(x, coefficients[i], Z[i])
    return abs(g[k]) <= eta * r_norm, used
