"""Rosenbrock-W methods: linearly implicit, no Newton iteration, and W-methods keep their order with a stale
Jacobian, so one Hessian (and its eigendecomposition) serves many steps.

A method is ``(I − hγJ) k_i = h f(y + Σ α_ij k_j) + hJ Σ γ_ij k_j``, ``y₁ = y + Σ b_i k_i`` (Hairer–Wanner
IV.7). It is run in the transformed variables ``u_i = Σ γ_ij k_j``, which need no products with J:
``(I + hγ∇²L) u_i = hγ (f(Y_i) + Σ_j (C_ij/h) u_j)``, ``Y_i = y + Σ_j A_ij u_j``, with ``A = αΓ⁻¹``,
``C = diag(1/γ) − Γ⁻¹``, ``m = bΓ⁻¹``.

Jacobian policy (``jacobian="reuse"``): evaluated at the first step; then once it has served
``JAC_COST_GRADS``·P gradient evaluations (about what a new one costs, so reuse never costs more than
refreshing); and after a quarter of that, also when a step is rejected or the steps stagnate: the largest
relative step h/(t + h) of the last ``STALE_STEPS`` attempts has fallen to half the largest of the first
``STALE_STEPS`` after the evaluation (maxima, so that steps cut short to hit a save time do not count). A
W-method stays accurate with any matrix, but it is only *stable* with one close to the Jacobian in the
stiff directions; a stale one shows up not as rejections (the PI controller settles just below the
stability limit) but as a step size that stops keeping pace with t, while on a gradient flow's slow
manifold a healthy step grows like t. ``"every_step"`` makes it a classical Rosenbrock method; ``"frozen"``
keeps the first Jacobian for good, which only serves to measure the W-method's order.

Order 3 takes many steps at the tolerances long horizons need (rtol 1e-8 to keep 5 digits over 9 decades):
BDF's orders up to 5 are the better choice there; ROS34PW2 suits moderate tolerances and small P.
"""

import math
from dataclasses import dataclass

import numpy as np

from sadbench.solvers import attempts
from sadbench.solvers import jacobian
from sadbench import signatures as sig
from sadbench.jit import compiled
from sadbench.solvers.control import scaled_rms
from sadbench.solvers.vectors import copy
from sadbench.specs import Integrator

TOLERANCE = 1e-12

STALE_STEPS = 5
JAC_COST_GRADS = 2.0
REUSE, EVERY_STEP, FROZEN = 0.0, 1.0, 2.0
POLICIES = {"reuse": REUSE, "every_step": EVERY_STEP, "frozen": FROZEN}

# Work header after the shared one: Jacobian age (accepted steps), attempts since it was evaluated, the
# reference relative step, statistics, then the relative steps of the last STALE_STEPS attempts.
AGE, SINCE, R_REF, N_JAC, N_SOLVES = range(attempts.HEADER, attempts.HEADER + 5)
RECENT = attempts.HEADER + 5
HEADER = RECENT + STALE_STEPS


def _conditions(alpha, gamma, b, order):
    """Residuals of the Rosenbrock order conditions up to ``order`` ≤ 4 (Hairer–Wanner IV.7, Table 7.1)."""
    g = gamma[0, 0]
    beta = alpha + np.tril(gamma, -1)
    bp = beta.sum(axis=1)
    a = alpha.sum(axis=1)
    table = [
        [(b.sum(), 1.0)],
        [(b @ bp, 0.5 - g)],
        [(b @ a**2, 1 / 3), (b @ beta @ bp, 1 / 6 - g + g * g)],
        [(b @ a**3, 0.25), (b @ (a * (alpha @ bp)), 1 / 8 - g / 3), (b @ beta @ a**2, 1 / 12 - g / 3),
         (b @ beta @ beta @ bp, 1 / 24 - g / 2 + 1.5 * g * g - g**3)],
    ]
    return [max(abs(lhs - rhs) for lhs, rhs in table[p]) for p in range(order)]


@dataclass(frozen=True)
class RosenbrockTableau:
    """Coefficients (α strictly lower, Γ lower with constant diagonal γ, b, embedded b_hat), checked on
    creation against the Rosenbrock order conditions of ``order`` and ``error_order``."""

    alpha: np.ndarray
    gamma: np.ndarray
    b: np.ndarray
    b_hat: np.ndarray
    order: int
    error_order: int

    def __post_init__(self):
        for name in ("alpha", "gamma", "b", "b_hat"):
            value = np.array(getattr(self, name), dtype=np.float64)
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        s = self.b.size
        if self.alpha.shape != (s, s) or self.gamma.shape != (s, s) or self.b_hat.shape != (s,):
            raise ValueError("alpha, gamma must be (s, s) and b, b_hat (s,)")
        if np.any(np.triu(self.alpha) != 0) or np.any(np.triu(self.gamma, 1) != 0):
            raise ValueError("alpha must be strictly lower triangular, gamma lower triangular")
        if np.ptp(np.diag(self.gamma)) != 0 or self.gamma[0, 0] <= 0:
            raise ValueError("gamma must have one positive value on its diagonal")
        if not 1 <= self.order <= 4 or not 1 <= self.error_order < self.order:
            raise ValueError("order must be 1..4 and error_order below it")
        for weights, order, name in ((self.b, self.order, "b"), (self.b_hat, self.error_order, "b_hat")):
            for p, r in enumerate(_conditions(self.alpha, self.gamma, weights, order), start=1):
                if r > TOLERANCE:
                    raise ValueError(f"{name} fails the order-{p} conditions (residual {r:.2e})")

    def packed(self, policy):
        """``[s, γ, policy, A (s·s), C (s·s), m (s), m − m̂ (s)]``: the transformed coefficients."""
        s = self.b.size
        g = self.gamma[0, 0]
        inverse = np.linalg.inv(self.gamma)
        A = self.alpha @ inverse
        C = np.diag(np.full(s, 1.0 / g)) - inverse
        m = self.b @ inverse
        e = (self.b - self.b_hat) @ inverse
        return np.concatenate([[s, g, policy], A.ravel(), C.ravel(), m, e]).astype(np.float64)


@compiled()
def _stagnant(work, relative):
    """Record this attempt's relative step; True when the recent ones fell to half the early ones."""
    k = int(work[SINCE])
    work[RECENT + k % STALE_STEPS] = relative
    work[SINCE] = k + 1
    if k < STALE_STEPS:
        work[R_REF] = max(work[R_REF], relative)
        return False
    recent = work[RECENT : RECENT + STALE_STEPS].max()
    return k >= 2 * STALE_STEPS and recent < 0.5 * work[R_REF]


def work_size(stages, P):
    return HEADER + jacobian.jacobian_size(P) + (stages + 2) * P


@compiled(sig.ATTEMPT)
def rosenbrock_attempt(functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol):
    rhs = functions[0]
    s = int(params[0])
    gamma, policy = params[1], params[2]
    A = params[3 : 3 + s * s].reshape((s, s))
    C = params[3 + s * s : 3 + 2 * s * s].reshape((s, s))
    m = params[3 + 2 * s * s : 3 + 2 * s * s + s]
    e = params[3 + 2 * s * s + s : 3 + 2 * s * s + 2 * s]
    P = y.size
    jac_end = HEADER + jacobian.jacobian_size(P)
    jac = work[HEADER:jac_end]
    U = work[jac_end : jac_end + s * P].reshape((s, P))
    point = work[jac_end + s * P : jac_end + (s + 1) * P]
    stage_f = work[jac_end + (s + 1) * P : jac_end + (s + 2) * P]

    outcome = attempts.begin(work, t)
    if outcome == attempts.ACCEPTED:
        work[AGE] += 1.0
    age = work[AGE]
    if policy == EVERY_STEP:
        fresh = age > 0.0
    elif policy == FROZEN:
        fresh = False
    else:
        spent = age * s / (JAC_COST_GRADS * P)  # the gradients this Jacobian has served, in its own cost
        stagnant = _stagnant(work, h / (abs(t) + h))
        fresh = spent >= 1.0 or (spent >= 0.25 and (stagnant or outcome == attempts.REJECTED))
    if outcome == attempts.FIRST or fresh:
        work[N_JAC] += 1.0
        work[AGE] = 0.0
        work[SINCE] = 0.0
        work[R_REF] = 0.0
        if not jacobian.evaluate(functions, prob, y, jac, False):
            return math.nan, 0.0, math.nan

    c = h * gamma
    n_grad = 0.0
    for i in range(s):
        if i == 0:
            copy(stage_f, f)
        else:
            copy(point, y)
            for j in range(i):
                if A[i, j] != 0.0:
                    point += A[i, j] * U[j]
            rhs(prob, point, stage_f)
            n_grad += 1.0
        for j in range(i):
            if C[i, j] != 0.0:
                stage_f += (C[i, j] / h) * U[j]
        stage_f *= c
        work[N_SOLVES] += 1.0
        if not jacobian.solve(jac, c, stage_f, U[i]):
            return math.nan, n_grad, math.nan
    copy(y_new, y)
    point[:] = 0.0
    for i in range(s):
        y_new += m[i] * U[i]
        point += e[i] * U[i]
    loss_new = rhs(prob, y_new, f_new)
    return scaled_rms(point, y, y_new, rtol, atol), n_grad + 1.0, loss_new


def describe(work):
    return {"jacobian_evaluations": int(work[N_JAC]), "linear_solves": int(work[N_SOLVES])}


class RosenbrockW(Integrator):
    """An integrator defined by a :class:`RosenbrockTableau`, with the Jacobian ``policy`` "reuse",
    "every_step" or "frozen" (see the module's docstring)."""

    def __init__(self, name, tableau, jacobian="reuse", description=""):
        if jacobian not in POLICIES:
            raise ValueError(f"jacobian must be one of {sorted(POLICIES)}, got {jacobian!r}")
        stages = tableau.b.size
        super().__init__(
            name=name, order=tableau.order, attempt=rosenbrock_attempt,
            work_size=lambda P: work_size(stages, P), params=tableau.packed(POLICIES[jacobian]),
            error_order=tableau.error_order, stiff=True, second_order=True, describe=describe,
            description=description,
        )
        object.__setattr__(self, "tableau", tableau)
