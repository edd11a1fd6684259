"""Variable-order BDF / NDF (orders 1–5), the algorithm of scipy's ``BDF`` (Shampine–Reichelt's quasi-constant
step size with a backward-difference array D), compiled, with the Hessian as Jacobian.

What differs from scipy:

- The Jacobian is kept in a form that solves ``(I + c·∇²L) x = b`` for *any* c without refactorising, so
  simplified Newton always uses the ``I + c·∇²L`` of the current step size and order (scipy keeps the LU of a
  stale c). ``jacobian="lanczos"`` (the default) keeps a low-rank model from Lanczos on Hessian-vector
  products (:mod:`sadbench.solvers.lanczos`): O(m·nP) to build, no P × P matrix, no O(P³);
  ``jacobian="dense"`` the exact Hessian eigendecomposed (:mod:`sadbench.solvers.jacobian`), P products and
  an O(P³) eigendecomposition. Measured on SAD 2D (P = 1741, 2000 points) to t = 1e4: a dense Jacobian costs
  about 5 s, a Lanczos model about 30 gradients' worth (docs/cost-model.md).
- The Jacobian goes stale within a few steps on divergent mse flows whatever its form: a stiff eigenvector
  (c·λ ~ 10³) that turns by φ slows simplified Newton to a rate of about φ·√(c·λ). Simplified Newton is
  therefore Anderson-mixed (``anderson`` = 4 differences, :mod:`sadbench.solvers.anderson`), which removes
  those few directions from the residuals it computes anyway (SAD 2D to t = 1e6: a third fewer Jacobians,
  a fifth less time). A low-rank model is cheap, so when simplified Newton fails with a stale one it is
  simply renewed at y. When it fails with a
  fresh Jacobian, or with a stale dense one, the step is redone by Newton–Krylov
  (:mod:`sadbench.solvers.krylov`: exact Hessian-vector products, the Jacobian we have as preconditioner),
  which also rescues steps whose prediction was poor; a dense Jacobian is re-evaluated only when that fails
  too, or when the Krylov products since the last evaluation cost more than one (P products, or the last
  Lanczos run's): the ski-rental rule, within twice the cost of the better choice in hindsight.
- Newton stops at ``newton_tol`` = 0.03 in the error test's scaled norm (where the local error must be ≤ 1),
  as CVODE (0.1) and LSODE (about 0.1) do; scipy's ``min(0.03, √rtol)`` asks 1e-4 at rtol = 1e-8, which
  costs Newton iterations and makes a stale Jacobian fail sooner, for nothing: measured on SAD 1D and 2D
  the agreement with a tight reference is the same (docs/cost-model.md). ``newton_tol=None`` restores scipy's.
- No step is asked to be more accurate than the vector field: the gradient's rounding noise σ (estimated
  at each Jacobian evaluation) enters each step as c·σ in flat directions, where I + c·∇²L does not damp it.
  It is added to the error scale, and Newton stops once its corrections are that small. Without this, a
  divergent SAD flow stalls once L nears rounding level (the weights grow and cancel, so σ grows to 1e-3
  of ||∇L||): tanh 1-4-1 on x² needed 17 600 steps from t = 1e11 to 1e12 and 33 600 to 1e13. Where σ
  exceeds ``NOISY`` of the gradient's RMS, a forward difference of gradients keeps less than two digits and
  Anderson mixing mixes noise, so the products are exact, Newton is not mixed and GMRES is asked for
  ``KRYLOV_ETA_NOISY``.
- The method chooses its next step and order itself (``step_control="method"``), and a step is committed to
  D lazily, at the next attempt, once the driver's moving on to a new t shows that it was accepted.
"""

import math

import numpy as np

from sadbench.jit import compiled
from sadbench.solvers import anderson
from sadbench.solvers import attempts
from sadbench.solvers import jacobian
from sadbench.solvers import krylov
from sadbench.solvers import lanczos
from sadbench.solvers import products
from sadbench import signatures as sig
from sadbench.solvers.vectors import add, axpy, copy, copy_rows, fill, scaled_norm
from sadbench.specs import Integrator


MAX_ORDER = 5
NEWTON_MAXITER = 4
MIN_FACTOR, MAX_FACTOR = 0.2, 10.0
NDF_KAPPA = (0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0)
EPS = np.finfo(float).eps
KRYLOV_DIM, KRYLOV_ETA, KRYLOV_ETA_NOISY = 40, 1e-3, 1e-6
JAC_COST_HVP = 1.0
LANCZOS_TOL, LANCZOS_GROWTH, LANCZOS_RANK = 0.05, 4.0, 160
NEWTON_TOL = 0.03
FORMS = ("dense", "lanczos")
PRODUCTS = ("exact", "difference")
DENSE, LOW_RANK = 0.0, 1.0
# params after the method's coefficients
SINGLE, FORM, RANK, TOL, GROWTH, NEWTON, DIFFERENCE, ANDERSON = 20, 21, 22, 23, 24, 25, 26, 27
ANDERSON_DEPTH, ANDERSON_MAXITER = 4, 8
NOISE_ULPS = 8.0  # the relative perturbation of θ that decorrelates the gradient's rounding errors
NOISE_NEWTON = 3.0  # Newton has converged once its corrections are within this many c·σ
# σ / RMS(∇L) above which a forward difference of step √eps (products.ROOT_EPS) keeps less than two digits
NOISY = 0.01 * products.ROOT_EPS

# Work header after the shared one.
ORDER, N_EQUAL, H_D, PENDING, NEXT_ORDER, RESET_EQUAL, FRESH_JAC, KRYLOV = range(attempts.HEADER,
                                                                                attempts.HEADER + 8)
N_JAC, N_NEWTON, N_NEWTON_FAIL, N_ERROR_FAIL, N_HVP, HVP_SINCE, NOISE = range(attempts.HEADER + 8,
                                                                             attempts.HEADER + 15)
HEADER = attempts.HEADER + 15
ROWS = MAX_ORDER + 3


def pack(min_order=1, max_order=MAX_ORDER, kappa=NDF_KAPPA, eigenvectors="float32", jacobian="lanczos",
         rank=LANCZOS_RANK, lanczos_tol=LANCZOS_TOL, growth=LANCZOS_GROWTH, products="difference",
         newton_tol=NEWTON_TOL, anderson=ANDERSON_DEPTH):
    """``[min_order, max_order, α (6), γ (6), error constants (6), single, form, rank, tol, growth, newton_tol,
    difference, anderson]``. kappa = 0 gives classical BDF. ``jacobian`` is "lanczos" (a low-rank model of at most
    ``rank`` Ritz pairs, accurate to ``lanczos_tol`` for c up to ``growth`` times the c of its evaluation,
    from ``products`` "difference" (of gradients) or "exact" (Hessian-vector products):
    :mod:`sadbench.solvers.lanczos`) or "dense" (the eigendecomposed Hessian, its eigenvectors in
    ``eigenvectors`` precision: :mod:`sadbench.solvers.jacobian`). ``newton_tol`` ends Newton (None: scipy's
    rule); ``anderson`` differences mix simplified Newton's iterates (0: plain simplified Newton)."""
    if eigenvectors not in ("float32", "float64"):
        raise ValueError(f"eigenvectors must be 'float32' or 'float64', got {eigenvectors!r}")
    if jacobian not in FORMS:
        raise ValueError(f"jacobian must be one of {', '.join(map(repr, FORMS))}, got {jacobian!r}")
    if products not in PRODUCTS:
        raise ValueError(f"products must be one of {', '.join(map(repr, PRODUCTS))}, got {products!r}")
    if not (int(rank) >= 1 and lanczos_tol > 0 and growth >= 1):
        raise ValueError(f"need rank >= 1, lanczos_tol > 0 and growth >= 1; got {rank}, {lanczos_tol}, {growth}")
    if newton_tol is not None and not 0 < newton_tol < 1:
        raise ValueError(f"newton_tol must be in (0, 1) or None, got {newton_tol}")
    if not 0 <= int(anderson) <= KRYLOV_DIM:
        raise ValueError(f"anderson must be between 0 and {KRYLOV_DIM}, got {anderson}")
    kappa = np.asarray(kappa, dtype=np.float64)
    gamma = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
    alpha = (1.0 - kappa) * gamma
    error_const = kappa * gamma + 1.0 / np.arange(1, MAX_ORDER + 2)
    single = 1.0 if eigenvectors == "float32" else 0.0
    tail = [single, FORMS.index(jacobian), int(rank), lanczos_tol, growth, newton_tol or 0.0,
            PRODUCTS.index(products), int(anderson)]
    return np.concatenate([[min_order, max_order], alpha, gamma, error_const, tail]).astype(np.float64)


@compiled()
def matrix_size(P, params):
    """Length of the Jacobian region: a dense eigendecomposition, or a Lanczos model of ``rank`` Ritz pairs."""
    if params[FORM] == LOW_RANK:
        return lanczos.region_size(P, min(int(params[RANK]), P))
    return jacobian.jacobian_size(P)


@compiled()
def work_size(P, params):
    return HEADER + ROWS * P + 5 * P + (MAX_ORDER + 1) * P + matrix_size(P, params) \
        + krylov.krylov_size(P, KRYLOV_DIM)


@compiled()
def jacobian_region(work, P, params):
    """The Jacobian inside a BDF work vector (for callers that read its eigenvalues: ``jacobian.solve`` and
    ``jacobian.spectral_radius`` take either form)."""
    o = HEADER + ROWS * P + 5 * P + (MAX_ORDER + 1) * P
    return work[o : o + matrix_size(P, params)]


@compiled()
def _krylov_region(work, P, params):
    o = HEADER + ROWS * P + 5 * P + (MAX_ORDER + 1) * P + matrix_size(P, params)
    return work[o : o + krylov.krylov_size(P, KRYLOV_DIM)]


@compiled()
def _regions(work, P, params):
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
    return D, d, psi, scale, dy, spare, D_tmp, jacobian_region(work, P, params)


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
def _newton(functions, prob, y, c, psi, jac, scale, tol, d, dy, f, space, difference, floor, eta):
    """Newton for y = y_pred + d, d = c·f(y) − ψ (scipy's ``solve_bdf_system``); y starts at the prediction
    and ends at the solution. Simplified Newton with the stored Jacobian when ``space`` is empty, else
    Newton–Krylov (GMRES to relative residual ``eta``, products by differences of gradients if
    ``difference``). A residual of RMS size
    ``floor`` or less is rounding noise: one more correction (which settles the stiff directions, where it is
    damped) and it has converged. Returns (converged, iterations, Hessian-vector products, whether GMRES
    failed)."""
    fill(d, 0.0)
    dy_norm_old = -1.0
    hvps = 0
    gradient = krylov.gradient_slot(space, y.size) if space.size > 0 else space
    for k in range(NEWTON_MAXITER):
        functions[0](prob, y, f)
        for p in range(y.size):
            if not math.isfinite(f[p]):
                return False, k + 1, hvps, False
        if space.size > 0:
            copy(gradient, f)
        for p in range(y.size):
            f[p] = c * f[p] - psi[p] - d[p]
        at_noise = anderson.rms(f) <= floor
        if space.size > 0:
            solved, used = krylov.gmres(functions, prob, y, difference, c, jac, f, dy, space, KRYLOV_DIM, eta)
            hvps += used
            if not solved:
                return False, k + 1, hvps, True
        elif not jacobian.solve(jac, c, f, dy):
            return False, k + 1, hvps, False
        dy_norm = scaled_norm(dy, scale)
        if at_noise:
            add(y, dy)
            add(d, dy)
            return True, k + 1, hvps, False
        rate = dy_norm / dy_norm_old if dy_norm_old > 0.0 else -1.0
        # scipy's test predicts the remaining iterations from a linear rate: right for simplified Newton,
        # too pessimistic for Newton–Krylov, which converges quadratically and only has to contract.
        # (only for 0 ≤ rate < 1: at rounding level two corrections can have exactly equal norms, rate = 1)
        too_slow = (space.size == 0 and 0.0 <= rate < 1.0
                    and rate ** (NEWTON_MAXITER - k) / (1.0 - rate) * dy_norm > tol)
        if rate >= 0.0 and (rate >= 1.0 or too_slow):
            return False, k + 1, hvps, False
        add(y, dy)
        add(d, dy)
        if dy_norm == 0.0 or (rate >= 0.0 and rate / (1.0 - rate) * dy_norm < tol):
            return True, k + 1, hvps, False
        dy_norm_old = dy_norm
    return False, NEWTON_MAXITER, hvps, False


@compiled()
def _gradient_noise(functions, prob, y):
    """The RMS rounding noise σ of the vector field at y, from f(y + δ) + f(y − δ) − 2·f(y) for a
    perturbation δ of a few ulps: the linear parts cancel and the quadratic one is below rounding, which
    leaves three independent rounding errors, of variance 6σ²."""
    P = y.size
    delta = np.empty(P)
    for p in range(P):
        delta[p] = NOISE_ULPS * EPS * max(abs(y[p]), 1.0) * (1.0 if p % 2 == 0 else -1.0)
    f0 = np.empty(P)
    f_plus = np.empty(P)
    f_minus = np.empty(P)
    shifted = np.empty(P)
    functions[0](prob, y, f0)
    for p in range(P):
        shifted[p] = y[p] + delta[p]
    functions[0](prob, shifted, f_plus)
    for p in range(P):
        shifted[p] = y[p] - delta[p]
    functions[0](prob, shifted, f_minus)
    s = 0.0
    for p in range(P):
        s += (f_plus[p] + f_minus[p] - 2.0 * f0[p]) ** 2
    sigma = math.sqrt(s / (6.0 * P))
    return sigma if math.isfinite(sigma) else 0.0


@compiled()
def _step_noise(jac, P, c, sigma):
    """The RMS rounding noise of a step's solution: c·σ, damped by 1/(1 + c·λ) in each eigendirection of the
    (possibly stale) Jacobian, so that only the flat directions keep it; a low-rank model's missing
    directions count as flat."""
    if jac[0] == lanczos.KIND:
        lam = lanczos.ritz_values(jac, P)
        s = float(P - lam.size)
    else:
        lam = jac[1 + P * P : 1 + P * P + P]  # jacobian.py's layout, as in jacobian.spectral_radius
        s = 0.0
    for i in range(lam.size):
        s += 1.0 / (1.0 + c * max(lam[i], 0.0)) ** 2
    return c * sigma * math.sqrt(s / P)


@compiled()
def _noisy(work, f):
    """Whether the gradient's rounding noise (at the last Jacobian evaluation) exceeds ``NOISY`` of f's RMS:
    then Hessian-vector products are exact whatever the options, and GMRES is asked for more."""
    return work[NOISE] > NOISY * anderson.rms(f)


@compiled()
def _refresh(functions, prob, y, f, jac, work, params, c):
    """Evaluate the Jacobian (and the gradient's rounding noise) at y, for step coefficients c = h/α near
    ``c``, and go back to simplified Newton; False without second derivatives."""
    work[N_JAC] += 1.0
    work[FRESH_JAC] = 1.0
    work[KRYLOV] = 0.0
    work[HVP_SINCE] = 0.0
    work[NOISE] = _gradient_noise(functions, prob, y)
    if params[FORM] == LOW_RANK:
        finite, used = lanczos.evaluate(functions, prob, y, f, jac, params[GROWTH] * c, params[TOL],
                                        params[DIFFERENCE] > 0.0 and not _noisy(work, f))
        work[N_HVP] += used
        return finite
    return jacobian.evaluate(functions, prob, y, jac, params[SINGLE] > 0.0)


@compiled()
def _jacobian_cost(jac, P):
    """A Jacobian evaluation's cost in Hessian-vector products: P for the dense Hessian (plus its
    eigendecomposition), the products of the last Lanczos run for the low-rank model."""
    return lanczos.cost(jac) if jac[0] == lanczos.KIND else JAC_COST_HVP * P


@compiled(sig.ATTEMPT)
def bdf_attempt(functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol):
    min_order, max_order = int(params[0]), int(params[1])
    alpha, gamma, error_const = params[2:8], params[8:14], params[14:20]
    P = y.size
    D, d, psi, scale, dy, spare, D_tmp, jac = _regions(work, P, params)

    outcome = attempts.begin(work, t)
    if outcome == attempts.FIRST:
        copy(D[0], y)
        for p in range(P):
            D[1, p] = h * f[p]
        work[H_D] = h
        work[ORDER] = min_order
        work[N_EQUAL] = 0.0
        if not _refresh(functions, prob, y, f, jac, work, params, h / alpha[min_order]):
            return math.nan, 0.0, math.nan
    elif outcome == attempts.ACCEPTED:
        work[FRESH_JAC] = 0.0
        if work[PENDING] > 0.0:
            order = int(work[ORDER])
            for p in range(P):
                D[order + 2, p] = d[p] - D[order + 1, p]
            copy(D[order + 1], d)
            for i in range(order, -1, -1):
                add(D[i], D[i + 1])
            work[N_EQUAL] = 0.0 if work[RESET_EQUAL] > 0.0 else work[N_EQUAL] + 1.0
            work[ORDER] = work[NEXT_ORDER]
    work[PENDING] = 0.0
    if work[KRYLOV] > 0.0 and work[HVP_SINCE] >= _jacobian_cost(jac, P):
        if not _refresh(functions, prob, y, f, jac, work, params, h / alpha[int(work[ORDER])]):
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
    fill(psi, 0.0)
    copy(y_new, D[0])
    for i in range(1, order + 1):
        add(y_new, D[i])
        axpy(psi, gamma[i] / alpha[order], D[i])
    c = h / alpha[order]
    noise = _step_noise(jac, P, c, work[NOISE])
    floor = NOISE_NEWTON * c * work[NOISE]
    for p in range(P):
        scale[p] = atol + rtol * abs(y_new[p]) + noise
    copy(spare, y_new)
    tol = params[NEWTON] if params[NEWTON] > 0.0 else max(10.0 * EPS / rtol, min(0.03, math.sqrt(rtol)))
    n_grad = 0.0
    space = _krylov_region(work, P, params)
    noisy = _noisy(work, f)
    while True:
        # At rounding level the mixing's differences are noise: plain simplified Newton there.
        if work[KRYLOV] == 0.0 and params[ANDERSON] > 0.0 and not noisy:
            # the Krylov region is idle during simplified Newton: it holds the mixing history
            # (anderson.history_size(P, depth) <= krylov.krylov_size(P, KRYLOV_DIM) for depth <= KRYLOV_DIM)
            converged, n_iter = anderson.solve(functions, prob, y_new, c, psi, jac, scale, tol, d, dy, f_new, space,
                                               int(params[ANDERSON]), ANDERSON_MAXITER, floor)
            hvps = 0
        else:
            difference = params[DIFFERENCE] > 0.0 and not noisy
            eta = KRYLOV_ETA_NOISY if noisy else KRYLOV_ETA
            converged, n_iter, hvps, _ = _newton(functions, prob, y_new, c, psi, jac, scale, tol, d, dy, f_new,
                                                 space if work[KRYLOV] > 0.0 else space[:0], difference, floor,
                                                 eta)
        n_grad += n_iter
        work[N_NEWTON] += n_iter
        work[N_HVP] += hvps
        work[HVP_SINCE] += hvps
        if converged:
            break
        copy(y_new, spare)
        if work[KRYLOV] == 0.0 and work[FRESH_JAC] == 0.0 and params[FORM] == LOW_RANK:
            # A low-rank model costs a few dozen products, less than Newton–Krylov on the steps until the
            # ski-rental rule would renew it: renew it now, and stay with simplified Newton.
            if not _refresh(functions, prob, y, f, jac, work, params, c):
                return math.nan, n_grad, math.nan
            continue
        if work[KRYLOV] == 0.0:
            work[KRYLOV] = 1.0  # exact Newton, the Jacobian we have as preconditioner
            continue
        if work[FRESH_JAC] > 0.0:
            break
        # At y, not at the prediction: a prediction bad enough to fail Newton is no place to linearise,
        # and this Jacobian stays in use while the step is halved.
        if not _refresh(functions, prob, y, f, jac, work, params, c):
            return math.nan, n_grad, math.nan
        work[KRYLOV] = 1.0
    if not converged:
        work[N_NEWTON_FAIL] += 1.0
        work[attempts.PROPOSAL] = 0.5 * h
        return 1e10, n_grad, math.nan

    safety = 0.9 * (2 * NEWTON_MAXITER + 1) / (2 * NEWTON_MAXITER + min(n_iter, NEWTON_MAXITER))
    for p in range(P):
        scale[p] = atol + rtol * abs(y_new[p]) + noise
    err = error_const[order] * scaled_norm(d, scale)
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
            err_m = error_const[order - 1] * scaled_norm(spare, scale)
            factor_m = max(err_m, 1e-10) ** (-1.0 / order)
            if factor_m > best:
                best, best_order = factor_m, order - 1
        if order < max_order:
            for p in range(P):
                spare[p] = d[p] - D[order + 1, p]
            err_p = error_const[order + 1] * scaled_norm(spare, scale)
            factor_p = max(err_p, 1e-10) ** (-1.0 / (order + 2))
            if factor_p > best:
                best, best_order = factor_p, order + 1
        work[NEXT_ORDER] = best_order
        work[RESET_EQUAL] = 1.0
        work[attempts.PROPOSAL] = h * min(MAX_FACTOR, safety * best)
    return err, n_grad + 1.0, loss_new


def describe_with(params):
    """``describe(work)`` of a BDF with these params: its counters, and the rank of a Lanczos Jacobian."""

    def describe(work):
        stats = {
            "jacobian_evaluations": int(work[N_JAC]), "newton_iterations": int(work[N_NEWTON]),
            "newton_failures": int(work[N_NEWTON_FAIL]), "error_failures": int(work[N_ERROR_FAIL]),
            "hessian_vector_products": int(work[N_HVP]), "order": int(work[ORDER]),
            "jacobian": FORMS[int(params[FORM])], "gradient_noise": float(work[NOISE]),
        }
        if params[FORM] == LOW_RANK and work[N_JAC] > 0:
            region = jacobian_region(work, _parameters(work.size, params), params)
            stats["rank"] = int(region[1])
            stats["lanczos_products"] = int(region[3])
        return stats

    return describe


def _parameters(size, params):
    """The P whose work_size is ``size`` (work_size increases with P)."""
    low, high = 1, size
    while low < high:
        middle = (low + high) // 2
        if work_size(middle, params) < size:
            low = middle + 1
        else:
            high = middle
    return low


class BDF(Integrator):
    """Variable-order NDF/BDF between ``min_order`` and ``max_order`` (equal for a fixed order); the other
    options are :func:`pack`'s: the Jacobian's form (low-rank Lanczos by default, or dense) and Newton's
    tolerance."""

    def __init__(self, name, min_order=1, max_order=MAX_ORDER, kappa=NDF_KAPPA, description="", **options):
        params = pack(min_order, max_order, kappa, **options)
        super().__init__(
            name=name, order=max_order, attempt=bdf_attempt, work_size=lambda P: work_size(P, params),
            params=params, error_order=max_order, stiff=True, second_order=True, step_control="method",
            describe=describe_with(params), description=description,
        )
