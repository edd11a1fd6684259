"""RKC: the second-order stabilised explicit Runge–Kutta–Chebyshev method (Sommeijer, Shampine, Verwer
1998), for large P where a dense Hessian is too big. It needs no matrix at all: only gradients, and
Hessian-vector products for the spectral radius.

With s stages its real stability interval is about 0.65·s², so a step h costs about sqrt(h·ρ/0.65)
gradients instead of h·ρ/3 for an explicit method, where ρ = max |λ(∇²L)| comes from power iteration on
Hessian-vector products, warm-started from the previous dominant eigenvector and refreshed every
``RHO_EVERY`` steps and after a rejected step. The method proposes its own next step (PI control, capped at
the stability limit of ``max_stages``).
"""

import math

import numpy as np

from sadbench.solvers import attempts
from sadbench import signatures as sig
from sadbench.jit import compiled
from sadbench.solvers.control import scaled_rms, step_factor
from sadbench.solvers.vectors import copy
from sadbench.specs import Integrator

DAMPING = 2.0 / 13.0
RHO_SAFETY = 1.2
RHO_EVERY = 25
POWER_ITERATIONS, POWER_TOL = 30, 0.01
SAFETY = 0.8

RHO, RHO_AGE, ERR_PREV, N_RHO, N_HVP, MAX_S, LAST_S = range(attempts.HEADER, attempts.HEADER + 7)
HEADER = attempts.HEADER + 7


@compiled()
def work_size(P):
    return HEADER + 4 * P


@compiled()
def power_iteration(hvp, prob, y, v, w, iterations, tol):
    """max |λ(∇²L(y))| by power iteration from ``v`` (left holding the dominant eigenvector);
    returns (estimate, Hessian-vector products used)."""
    norm = 0.0
    for p in range(v.size):
        norm += v[p] * v[p]
    if norm == 0.0:
        for p in range(v.size):
            v[p] = 1.0 + 0.1 * (p % 7)  # any start with a component along every eigenvector, generically
            norm += v[p] * v[p]
    v /= math.sqrt(norm)
    lam_old = 0.0
    lam = 0.0
    for k in range(iterations):
        hvp(prob, y, v, w)
        lam = 0.0
        for p in range(w.size):
            lam += w[p] * w[p]
        lam = math.sqrt(lam)
        if not (lam > 0.0 and math.isfinite(lam)):
            return lam, k + 1
        for p in range(v.size):
            v[p] = w[p] / lam
        if abs(lam - lam_old) <= tol * lam:
            return lam, k + 1
        lam_old = lam
    return lam, iterations


@compiled()
def stages_for(h, rho):
    return max(2, 1 + int(math.sqrt(1.0 + 1.54 * h * rho)))


@compiled()
def stable_step(stages, rho):
    """The largest h that ``stages`` stages can take: the inverse of :func:`stages_for`."""
    return ((stages - 1.0) ** 2 - 1.0) / (1.54 * rho)


@compiled(sig.ATTEMPT)
def rkc_attempt(functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol):
    rhs = functions[0]
    max_stages = params[0]
    P = y.size
    v = work[HEADER : HEADER + P]
    y_prev2 = work[HEADER + P : HEADER + 2 * P]
    y_prev = work[HEADER + 2 * P : HEADER + 3 * P]
    f_stage = work[HEADER + 3 * P : HEADER + 4 * P]

    outcome = attempts.begin(work, t)
    if outcome == attempts.ACCEPTED:
        work[RHO_AGE] += 1.0
    if outcome == attempts.FIRST or work[RHO_AGE] >= RHO_EVERY or (outcome == attempts.REJECTED and work[RHO_AGE] > 0):
        if outcome == attempts.FIRST:
            copy(v, f)
        rho, n_hvp = power_iteration(functions[1], prob, y, v, f_stage, POWER_ITERATIONS, POWER_TOL)
        work[N_HVP] += n_hvp
        work[N_RHO] += 1.0
        work[RHO] = RHO_SAFETY * rho
        work[RHO_AGE] = 0.0
        if not math.isfinite(rho):
            return math.nan, 0.0, math.nan
    rho = max(work[RHO], 1e-300)
    h_stable = stable_step(max_stages, rho)
    if h > h_stable:
        work[attempts.PROPOSAL] = h_stable
        return 1e10, 0.0, math.nan
    s = stages_for(h, rho)
    work[LAST_S] = s
    work[MAX_S] = max(work[MAX_S], s)

    # Chebyshev T_j, T_j', T_j'' at w0 by their three-term recurrences: first to j = s for w1, then again
    # alongside the stages.
    w0 = 1.0 + DAMPING / (s * s)
    t0, t1, d0, d1, dd0, dd1 = 1.0, w0, 0.0, 1.0, 0.0, 0.0
    for j in range(2, s + 1):
        t0, t1 = t1, 2.0 * w0 * t1 - t0
        d0, d1 = d1, 2.0 * t0 + 2.0 * w0 * d1 - d0
        dd0, dd1 = dd1, 4.0 * d0 + 2.0 * w0 * dd1 - dd0
    w1 = d1 / dd1
    # b_j = T_j''/T_j'^2 for j >= 2, b_0 = b_1 = b_2; a_j = 1 - b_j T_j.
    b2 = 4.0 / (16.0 * w0 * w0)  # T_2'' = 4, T_2' = 4 w0
    b_jm2, b_jm1 = b2, b2
    mu_t1 = b_jm1 * w1
    copy(y_prev2, y)
    for p in range(P):
        y_prev[p] = y[p] + mu_t1 * h * f[p]
    Tj_m2, Tj_m1 = 1.0, w0  # T_{j-2}, T_{j-1}
    Dj_m2, Dj_m1 = 0.0, 1.0
    DDj_m2, DDj_m1 = 0.0, 0.0
    a_jm1 = 1.0 - b_jm1 * w0
    for j in range(2, s + 1):
        Tj = 2.0 * w0 * Tj_m1 - Tj_m2
        Dj = 2.0 * Tj_m1 + 2.0 * w0 * Dj_m1 - Dj_m2
        DDj = 4.0 * Dj_m1 + 2.0 * w0 * DDj_m1 - DDj_m2
        bj = DDj / (Dj * Dj)
        mu = 2.0 * bj * w0 / b_jm1
        nu = -bj / b_jm2
        mu_t = 2.0 * bj * w1 / b_jm1
        gamma_t = -a_jm1 * mu_t
        rhs(prob, y_prev, f_stage)
        for p in range(P):
            y_new[p] = ((1.0 - mu - nu) * y[p] + mu * y_prev[p] + nu * y_prev2[p]
                        + h * (mu_t * f_stage[p] + gamma_t * f[p]))
        copy(y_prev2, y_prev)
        copy(y_prev, y_new)
        b_jm2, b_jm1 = b_jm1, bj
        a_jm1 = 1.0 - bj * Tj
        Tj_m2, Tj_m1 = Tj_m1, Tj
        Dj_m2, Dj_m1 = Dj_m1, Dj
        DDj_m2, DDj_m1 = DDj_m1, DDj
    loss_new = rhs(prob, y_new, f_new)
    # Local error estimate (1/15)(12(y_n - y_{n+1}) + 6h(F_n + F_{n+1})), O(h³).
    for p in range(P):
        f_stage[p] = (12.0 * (y[p] - y_new[p]) + 6.0 * h * (f[p] + f_new[p])) / 15.0
    err = scaled_rms(f_stage, y, y_new, rtol, atol)
    err_prev = work[ERR_PREV] if work[ERR_PREV] > 0.0 else 1e-4
    factor = step_factor(err if math.isfinite(loss_new) else math.nan, err_prev, 2.0, SAFETY, 0.1, 10.0)
    work[attempts.PROPOSAL] = min(h * factor, h_stable)
    if err <= 1.0:
        work[ERR_PREV] = max(err, 1e-4)
    return err, float(s), loss_new


def describe(work):
    return {"spectral_radius": float(work[RHO]) / RHO_SAFETY, "spectral_radius_estimates": int(work[N_RHO]),
            "hessian_vector_products": int(work[N_HVP]), "max_stages_used": int(work[MAX_S])}


class RKC(Integrator):
    """Runge–Kutta–Chebyshev of order 2 with at most ``max_stages`` stages per step."""

    def __init__(self, name, max_stages=2000, description=""):
        super().__init__(
            name=name, order=2, attempt=rkc_attempt, work_size=work_size,
            params=np.array([float(max_stages)]), error_order=2, stiff=True,
            second_order=True, step_control="method", describe=describe, description=description,
        )
