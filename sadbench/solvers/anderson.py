"""Simplified Newton accelerated by Anderson mixing, for BDF's corrector with a stale Jacobian.

Simplified Newton iterates d ← d + g(d), g = M⁻¹(c·f(y_pred + d) − ψ − d), with M a Jacobian from some steps
ago. On divergent mse flows that M goes stale within a few steps: a stiff eigenvector (c·λ ~ 10³) that has
turned by φ makes the iteration contract at about φ·√(c·λ) only, and past 1 not at all. The error then lives
in a few directions, those the turning couples, and Anderson mixing removes them from the residuals the
iteration computes anyway: with the last ``depth`` differences ΔX of the iterates and ΔG of their g, the
next iterate is d + g − (ΔX + ΔG)γ with γ minimising ||g − ΔG γ||. On a linear problem that is GMRES on the
preconditioned system (Walker and Ni 2011), at one gradient per iteration and no Hessian-vector products.
"""

import math

import numpy as np

from sadbench.jit import compiled
from sadbench.solvers import jacobian
from sadbench.solvers.vectors import add, back_substitute, copy, dot, fill, scaled_norm


@compiled()
def history_size(P, depth):
    return (2 * depth + 2) * P


@compiled()
def rms(v):
    s = 0.0
    for p in range(v.size):
        s += v[p] * v[p]
    return math.sqrt(s / v.size)


@compiled()
def _mixing(dG, g, stored):
    """γ = argmin ||g − ΔG γ|| over the first ``stored`` rows of ΔG: the normal equations, scaled to unit
    diagonal (plus 1e-12 for rank-deficient histories), by Gaussian elimination with partial pivoting. Loops
    rather than ``np.linalg.solve`` and array expressions: the system is at most ``depth`` square, and those
    compiled with their shape checks and LAPACK wrappers cost seconds of every first run."""
    n = stored
    A = np.zeros((n, n))
    rhs = np.zeros(n)
    diag = np.zeros(n)
    for i in range(n):
        rhs[i] = dot(dG[i], g)
        for j in range(i + 1):
            A[i, j] = dot(dG[i], dG[j])
            A[j, i] = A[i, j]
    for i in range(n):
        diag[i] = math.sqrt(max(A[i, i], 1e-300))
    for i in range(n):
        rhs[i] /= diag[i]
        for j in range(n):
            A[i, j] = A[i, j] / (diag[i] * diag[j]) + (1e-12 if i == j else 0.0)
    for k in range(n):
        pivot = k
        for i in range(k + 1, n):
            if abs(A[i, k]) > abs(A[pivot, k]):
                pivot = i
        if pivot != k:
            for j in range(n):
                A[k, j], A[pivot, j] = A[pivot, j], A[k, j]
            rhs[k], rhs[pivot] = rhs[pivot], rhs[k]
        for i in range(k + 1, n):
            factor = A[i, k] / A[k, k]
            for j in range(k, n):
                A[i, j] -= factor * A[k, j]
            rhs[i] -= factor * rhs[k]
    gamma = back_substitute(A, rhs, n)
    for i in range(n):
        gamma[i] /= diag[i]
    return gamma


@compiled()
def solve(functions, prob, y, c, psi, jac, scale, tol, d, g, f, history, depth, max_iter, floor):
    """The corrector y = y_pred + d, d = c·f(y) − ψ, by Anderson-mixed simplified Newton with the stored
    Jacobian; y starts at the prediction and ends at the solution. ``history`` holds :func:`history_size`
    floats. Converged when the corrections g contract (norms scaled by ``scale``) and rate/(1 − rate)·||g||
    < ``tol``, or once the residual's RMS is at most ``floor`` (the rounding noise of c·f: one more plain
correction settles the stiff directions, where it is damped). Returns (converged, iterations)."""
    P = y.size
    dX = history[: depth * P].reshape((depth, P))
    dG = history[depth * P : 2 * depth * P].reshape((depth, P))
    g_old = history[2 * depth * P : (2 * depth + 1) * P]
    step = history[(2 * depth + 1) * P : (2 * depth + 2) * P]
    fill(d, 0.0)
    g_norm_old = -1.0
    stored = 0
    for k in range(max_iter):
        functions[0](prob, y, f)
        for p in range(P):
            if not math.isfinite(f[p]):
                return False, k + 1
            f[p] = c * f[p] - psi[p] - d[p]
        at_noise = rms(f) <= floor
        if not jacobian.solve(jac, c, f, g):
            return False, k + 1
        if at_noise:
            add(y, g)
            add(d, g)
            return True, k + 1
        copy(step, g)
        if k > 0:
            slot = (k - 1) % depth
            for p in range(P):
                dG[slot, p] = g[p] - g_old[p]
            stored = min(stored + 1, depth)
            gamma = _mixing(dG, g, stored)
            for i in range(stored):
                for p in range(P):
                    step[p] -= gamma[i] * (dX[i, p] + dG[i, p])
        copy(g_old, g)
        # The test is scipy's on the simplified-Newton corrections g: their ratio is the rate the mixing
        # achieves (for a linear problem, that of GMRES's residuals, which never grows), and
        # rate/(1 − rate)·||g|| bounds what is left after the step.
        g_norm = scaled_norm(g, scale)
        rate = g_norm / g_norm_old if g_norm_old > 0.0 else -1.0
        if not math.isfinite(g_norm) or (k >= 2 and rate >= 1.0):
            return False, k + 1
        copy(dX[k % depth], step)
        add(y, step)
        add(d, step)
        if g_norm == 0.0 or (0.0 <= rate < 1.0 and rate / (1.0 - rate) * g_norm < tol):
            return True, k + 1
        g_norm_old = g_norm
    return False, max_iter
