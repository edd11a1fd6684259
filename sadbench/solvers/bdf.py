"""Variable-order BDF / NDF (orders 1–5), the algorithm of scipy's ``BDF`` (Shampine–Reichelt's quasi-constant
step size with a backward-difference array D), compiled, with the exact Hessian as Jacobian.

What differs from scipy:

- The Jacobian is kept as an eigendecomposition (:mod:`sadbench.solvers.jacobian`), so simplified Newton always
  uses the exact ``I + c·∇²L`` of the current step size and order; scipy keeps the LU of a stale c.
- When simplified Newton fails, the step is redone by Newton–Krylov (:mod:`sadbench.solvers.krylov`: exact
  Hessian-vector products, the Jacobian we have as preconditioner), which also rescues steps whose
  prediction was poor. Only when that fails too is the Jacobian re-evaluated, or when the Krylov iterations
  since the last evaluation cost more than one (``JAC_COST_HVP``·P products; on SAD 1D, P = 461, a Jacobian
  is a 3 ms Hessian and a 31 ms eigendecomposition, a Krylov iteration a 0.06 ms product and a 0.1 ms
  preconditioner solve): the ski-rental rule, within twice the cost of the better choice in hindsight.
  On SAD 1D to t = 1e7 this takes the Jacobian evaluations from 558 (scipy's rule) to about 50.
- The method chooses its next step and order itself (``step_control="method"``), and a step is committed to
  D lazily, at the next attempt, once the driver's moving on to a new t shows that it was accepted.
"""

import math

import numpy as np

from sadbench.solvers import attempts
from sadbench.solvers import jacobian
from sadbench.solvers import krylov
from sadbench import signatures as sig
from sadbench.jit import compiled
from sadbench.solvers.vectors import copy, copy_rows
from sadbench.specs import Integrator

MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR, MAX_FACTOR = 0.2, 10.0
NDF_KAPPA = (0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0)
EPS = np.finfo(float).eps
KRYLOV_DIM, KRYLOV_ETA = 40, 1e-6
JAC_COST_HVP = 1.0

# Work header after the shared one.
ORDER, N_EQUAL, H_D, PENDING, NEXT_ORDER, RESET_EQUAL, FRESH_JAC, KRYLOV = range(attempts.HEADER,
                                                                                attempts.HEADER + 8)
N_JAC, N_NEWTON, N_NEWTON_FAIL, N_ERROR_FAIL, N_HVP, HVP_SINCE = range(attempts.HEADER + 8,
                                                                      attempts.HEADER + 14)
HEADER = attempts.HEADER + 14
ROWS = MAX_ORDER + 3


def pack(min_order=1, max_order=MAX_ORDER, kappa=NDF_KAPPA, eigenvectors="float32"):
    """``[min_order, max_order, α (6), γ (6), error constants (6), single]``; kappa = 0 gives classical BDF;
    ``eigenvectors`` is the precision of the Jacobian's Q (:mod:`sadbench.solvers.jacobian`)."""
    if eigenvectors not in ("float32", "float64"):
        raise ValueError(f"eigenvectors must be 'float32' or 'float64', got {eigenvectors!r}")
    kappa = np.asarray(kappa, dtype=np.float64)
    gamma = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
    alpha = (1.0 - kappa) * gamma
    error_const = kappa * gamma + 1.0 / np.arange(1, MAX_ORDER + 2)
    single = 1.0 if eigenvectors == "float32" else 0.0
    return np.concatenate([[min_order, max_order], alpha, gamma, error_const, [single]]).astype(np.float64)


@compiled()
def work_size(P):
    return HEADER + ROWS * P + 5 * P + (MAX_ORDER + 1) * P + jacobian.jacobian_size(P) \
        + krylov.krylov_size(P, KRYLOV_DIM)


@compiled()
def jacobian_region(work, P):
    """The eigendecomposed Jacobian inside a BDF work vector (for callers that read its eigenvalues)."""
    o = HEADER + ROWS * P + 5 * P + (MAX_ORDER + 1) * P
    return work[o : o + jacobian.jacobian_size(P)]


@compiled()
def _krylov_region(work, P):
    o = HEADER + ROWS * P + 5 * P + (MAX_ORDER + 1) * P + jacobian.jacobian_size(P)
    return work[o : o + krylov.krylov_size(P, KRYLOV_DIM)]


@compiled()
def _regions(work, P):
    """Views of D (ROWS, P), the pending correction d, ψ, the scale, Δy, a spare vector, D scratch, the
    Jacobian region."""
    o = HEADER
    D = work[o : o + ROWS * P].reshape((ROWS, P))
    o += ROWS * P
    d = work[o : o + P]
    psi = work[o + P : o + 2 * P]
    scale = work[o + 2 * P : o + 3 * P]
    dy = work[o + 3 * P : o + 4 * P]
    spare = work[o + 4 * P : o + 5 * P]
    o += 5 * P
    D_tmp = work[o : o + (MAX_ORDER + 1) * P].reshape((MAX_ORDER + 1, P))
    return D, d, psi, scale, dy, spare, D_tmp, jacobian_region(work, P)


@compiled()
def _rescale(D, D_tmp, order, factor):
    """Change D in place for a step size ``factor`` times the old one (scipy's ``change_D``)."""
    n = order + 1
    R = np.zeros((n, n))
    U = np.zeros((n, n))
    for M, f in ((R, factor), (U, 1.0)):
        for j in range(n):
            M[0, j] = 1.0
        for i in range(1, n):
            for j in range(n):
                M[i, j] = M[i - 1, j] * ((i - 1 - f * j) / i if j > 0 else 0.0)
    RU = R @ U
    P = D.shape[1]
    for i in range(n):
        for p in range(P):
            s = 0.0
            for j in range(n):
                s += RU[j, i] * D[j, p]
            D_tmp[i, p] = s
    copy_rows(D, D_tmp, n)


@compiled()
def _norm(v, scale):
    s = 0.0
    for p in range(v.size):
        s += (v[p] / scale[p]) ** 2
    return math.sqrt(s / v.size)


@compiled()
def _newton(functions, prob, y, c, psi, jac, scale, tol, d, dy, f, space):
    """Newton for y = y_pred + d, d = c·f(y) − ψ (scipy's ``solve_bdf_system``); y starts at the prediction
    and ends at the solution. Simplified Newton with the stored Jacobian when ``space`` is empty, else
    Newton–Krylov. Returns (converged, iterations, Hessian-vector products, whether GMRES failed)."""
    d[:] = 0.0
    dy_norm_old = -1.0
    products = 0
    for k in range(NEWTON_MAXITER):
        functions[0](prob, y, f)
        for p in range(y.size):
            if not math.isfinite(f[p]):
                return False, k + 1, products, False
            f[p] = c * f[p] - psi[p] - d[p]
        if space.size > 0:
            solved, used = krylov.gmres(functions[1], prob, y, c, jac, f, dy, space, KRYLOV_DIM, KRYLOV_ETA)
            products += used
            if not solved:
                return False, k + 1, products, True
        elif not jacobian.solve(jac, c, f, dy):
            return False, k + 1, products, False
        dy_norm = _norm(dy, scale)
        rate = dy_norm / dy_norm_old if dy_norm_old > 0.0 else -1.0
        # scipy's test predicts the remaining iterations from a linear rate: right for simplified Newton,
        # too pessimistic for Newton–Krylov, which converges quadratically and only has to contract.
        too_slow = space.size == 0 and rate ** (NEWTON_MAXITER - k) / (1.0 - rate) * dy_norm > tol
        if rate >= 0.0 and (rate >= 1.0 or too_slow):
            return False, k + 1, products, False
        y += dy
        d += dy
        if dy_norm == 0.0 or (rate >= 0.0 and rate / (1.0 - rate) * dy_norm < tol):
            return True, k + 1, products, False
        dy_norm_old = dy_norm
    return False, NEWTON_MAXITER, products, False


@compiled()
def _refresh(functions, prob, y, jac, work, single):
    """Evaluate the Jacobian at y and go back to simplified Newton; False without second derivatives."""
    work[N_JAC] += 1.0
    work[FRESH_JAC] = 1.0
    work[KRYLOV] = 0.0
    work[HVP_SINCE] = 0.0
    return jacobian.evaluate(functions, prob, y, jac, single)


@compiled(sig.ATTEMPT)
def bdf_attempt(functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol):
    min_order, max_order = int(params[0]), int(params[1])
    alpha, gamma, error_const = params[2:8], params[8:14], params[14:20]
    single = params[20] > 0.0
    P = y.size
    D, d, psi, scale, dy, spare, D_tmp, jac = _regions(work, P)

    outcome = attempts.begin(work, t)
    if outcome == attempts.FIRST:
        D[0] = y
        D[1] = h * f
        work[H_D] = h
        work[ORDER] = min_order
        work[N_EQUAL] = 0.0
        if not _refresh(functions, prob, y, jac, work, single):
            return math.nan, 0.0, math.nan
    elif outcome == attempts.ACCEPTED:
        work[FRESH_JAC] = 0.0
        if work[PENDING] > 0.0:
            order = int(work[ORDER])
            D[order + 2] = d - D[order + 1]
            D[order + 1] = d
            for i in range(order, -1, -1):
                D[i] += D[i + 1]
            work[N_EQUAL] = 0.0 if work[RESET_EQUAL] > 0.0 else work[N_EQUAL] + 1.0
            work[ORDER] = work[NEXT_ORDER]
    work[PENDING] = 0.0
    if work[KRYLOV] > 0.0 and work[HVP_SINCE] >= JAC_COST_HVP * P:
        if not _refresh(functions, prob, y, jac, work, single):
            return math.nan, 0.0, math.nan
    order = int(work[ORDER])
    if h > MAX_FACTOR * work[H_D]:
        # A jump the method never proposes: the driver going back to its step after one clipped to a save
        # time. Rescaling D by h/h_D amplifies its k-th difference (h/h_D)^k-fold, and after a step that
        # short that difference is the step's correction, not the solution's: restart from order 1.
        order = min_order
        work[ORDER] = order
    if h != work[H_D]:
        _rescale(D, D_tmp, order, h / work[H_D])
        work[H_D] = h
        work[N_EQUAL] = 0.0


    # Predict, then correct with simplified Newton; a stale Jacobian that fails is re-evaluated once.
    psi[:] = 0.0
    copy(y_new, D[0])
    for i in range(1, order + 1):
        y_new += D[i]
        psi += (gamma[i] / alpha[order]) * D[i]
    for p in range(P):
        scale[p] = atol + rtol * abs(y_new[p])
    copy(spare, y_new)
    c = h / alpha[order]
    tol = max(10.0 * EPS / rtol, min(0.03, math.sqrt(rtol)))
    n_grad = 0.0
    space = _krylov_region(work, P)
    while True:
        converged, n_iter, products, _ = _newton(functions, prob, y_new, c, psi, jac, scale, tol, d, dy, f_new,
                                                 space if work[KRYLOV] > 0.0 else space[:0])
        n_grad += n_iter
        work[N_NEWTON] += n_iter
        work[N_HVP] += products
        work[HVP_SINCE] += products
        if converged:
            break
        copy(y_new, spare)
        if work[KRYLOV] == 0.0:
            work[KRYLOV] = 1.0  # exact Newton, the Jacobian we have as preconditioner
            continue
        if work[FRESH_JAC] > 0.0:
            break
        # At y, not at the prediction: a prediction bad enough to fail Newton is no place to linearise,
        # and this Jacobian stays in use while the step is halved.
        if not _refresh(functions, prob, y, jac, work, single):
            return math.nan, n_grad, math.nan
        work[KRYLOV] = 1.0
    if not converged:
        work[N_NEWTON_FAIL] += 1.0
        work[attempts.PROPOSAL] = 0.5 * h
        return 1e10, n_grad, math.nan

    safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + n_iter)
    for p in range(P):
        scale[p] = atol + rtol * abs(y_new[p])
    err = error_const[order] * _norm(d, scale)
    # The step is complete even when the error test fails, so that a fixed-step driver can take it; the
    # driver's moving on to a new t is what commits it.
    loss_new = functions[0](prob, y_new, f_new)
    work[PENDING] = 1.0
    work[NEXT_ORDER] = order
    work[RESET_EQUAL] = 0.0
    work[attempts.PROPOSAL] = h
    if err > 1.0:
        work[N_ERROR_FAIL] += 1.0
        work[attempts.PROPOSAL] = h * max(MIN_FACTOR, safety * err ** (-1.0 / (order + 1)))
    elif work[N_EQUAL] + 1.0 >= order + 1:
        # Order and step for the next step, from the error estimates of orders k-1, k, k+1 of the D that
        # committing this step will give (D[k] + d and d - D[k+1]).
        best, best_order = max(err, 1e-10) ** (-1.0 / (order + 1)), order
        if order > min_order:
            for p in range(P):
                spare[p] = D[order, p] + d[p]
            err_m = error_const[order - 1] * _norm(spare, scale)
            factor_m = max(err_m, 1e-10) ** (-1.0 / order)
            if factor_m > best:
                best, best_order = factor_m, order - 1
        if order < max_order:
            for p in range(P):
                spare[p] = d[p] - D[order + 1, p]
            err_p = error_const[order + 1] * _norm(spare, scale)
            factor_p = max(err_p, 1e-10) ** (-1.0 / (order + 2))
            if factor_p > best:
                best, best_order = factor_p, order + 1
        work[NEXT_ORDER] = best_order
        work[RESET_EQUAL] = 1.0
        work[attempts.PROPOSAL] = h * min(MAX_FACTOR, safety * best)
    return err, n_grad + 1.0, loss_new


def describe(work):
    return {
        "jacobian_evaluations": int(work[N_JAC]), "newton_iterations": int(work[N_NEWTON]),
        "newton_failures": int(work[N_NEWTON_FAIL]), "error_failures": int(work[N_ERROR_FAIL]),
        "hessian_vector_products": int(work[N_HVP]), "order": int(work[ORDER]),
    }


class BDF(Integrator):
    """Variable-order NDF/BDF between ``min_order`` and ``max_order`` (equal for a fixed order), with the
    Jacobian's eigenvectors in ``eigenvectors`` precision (float32: faster solves, same accuracy, since Newton
    iterates on the float64 residual)."""

    def __init__(self, name, min_order=1, max_order=MAX_ORDER, kappa=NDF_KAPPA, eigenvectors="float32",
                 description=""):
        super().__init__(
            name=name, order=max_order, attempt=bdf_attempt, work_size=work_size,
            params=pack(min_order, max_order, kappa, eigenvectors), error_order=max_order, stiff=True,
            second_order=True, step_control="method", describe=describe, description=description,
        )
