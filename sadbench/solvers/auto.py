"""``integrator="auto"``: dopri5 while the flow is not stiff, a stiff method while it is, switching both ways
as LSODA does, and recording every switch.

The choice follows the problem and the horizon. Stiffness is detected for free from dopri5's own stages
(Hairer's test: h·ρ with ρ ≈ ||f(y₁) − f(ŷ₇)|| / ||y₁ − ŷ₇||, a lower bound of the spectral radius, at least
``STIFF_HRHO`` on ``STIFF_VOTES`` accepted steps, reset by ``NONSTIFF_RESET`` non-stiff ones in a row), so a
short horizon stays explicit. The threshold is low, 0.3 against dopri5's real stability boundary 3.3: a BDF
step costs about 3.5 gradients and dopri5's 6, and at rtol 1e-8 BDF's steps are as long as dopri5's even
where accuracy, not stability, limits them (SAD 2D to t = 1e4: switching at h·ρ > 2.5 left dopri5 running to
t = 53 and cost 10 s of CPU, at 0.3 it switches at t ≈ 3 and the run costs 5.3 s). The stiff partner is BDF
(:mod:`sadbench.solvers.bdf`), by default with the low-rank Lanczos Jacobian, whose cost grows like n·P, not
P³, so it serves every P (it replaced RKC above 1000 parameters). Back to dopri5 when BDF's steps are so
short that the flow is not stiff at them (h·ρ < ``NONSTIFF_HRHO``, ρ from the Jacobian's extreme
eigenvalues) on ``NONSTIFF_VOTES`` steps in a row: a flow whose stiffness fades (logistic losses,
λ_max ~ 1/t). Without second derivatives (an activation with no σ″) it stays with dopri5.
"""

import math

import numpy as np

from sadbench.jit import compiled
from sadbench.solvers import attempts
from sadbench.solvers import bdf
from sadbench.solvers import jacobian
from sadbench.solvers import rk
from sadbench import signatures as sig
from sadbench.solvers.control import step_factor
from sadbench.solvers.rk import pack_tableau, rk_attempt
from sadbench.specs import Integrator


STIFF_HRHO, STIFF_VOTES, NONSTIFF_RESET = 0.3, 15, 6
NONSTIFF_HRHO, NONSTIFF_VOTES = 0.1, 15
MAX_LOGGED = 64
MODES = ("dopri5", "bdf")
NONSTIFF, STIFF = 0, 1

# Header after the shared one: mode, stiffness votes, calm steps, dopri5's previous error, "no σ″", P,
# accepted steps per mode (2), the number of switches, then the first MAX_LOGGED switch times and modes.
MODE, VOTES, CALM, ERR_PREV, NO_SECOND, N_PARAMS = range(attempts.HEADER, attempts.HEADER + 6)
STEPS = attempts.HEADER + 6
SWITCHES = STEPS + len(MODES)
LOG_T = SWITCHES + 1
LOG_MODE = LOG_T + MAX_LOGGED
HEADER = LOG_MODE + MAX_LOGGED
DOPRI_STAGES = 7


@compiled()
def _switch(work, t, mode):
    k = int(work[SWITCHES])
    if k < MAX_LOGGED:
        work[LOG_T + k] = t
        work[LOG_MODE + k] = mode
    work[SWITCHES] = k + 1
    work[MODE] = mode
    work[VOTES] = 0.0
    work[CALM] = 0.0


@compiled()
def _nonstiff_step(functions, prob, dopri, t, y, f, h, y_new, f_new, work, rk_work, stiff_work, rtol, atol,
                   outcome):
    """A dopri5 step with its PI control, and Hairer's stiffness test when the step is accepted."""
    P = y.size
    err, n_grad, loss_new = rk_attempt(functions, prob, dopri, t, y, f, h, y_new, f_new, rk_work, rtol, atol)
    fmax = 1.0 if outcome == attempts.REJECTED else 10.0
    finite_err = err if math.isfinite(loss_new) else math.nan
    work[attempts.PROPOSAL] = h * step_factor(finite_err, work[ERR_PREV], 4.0, 0.9, 0.2, fmax)
    if not (err <= 1.0 and math.isfinite(loss_new)):
        return err, n_grad, loss_new
    work[ERR_PREV] = max(err, 1e-4)
    work[STEPS + NONSTIFF] += 1.0
    # rk.py's work holds the stages K (7, P) and then the point of the 6th stage, where K[5] was taken.
    K = rk_work[: DOPRI_STAGES * P].reshape((DOPRI_STAGES, P))
    stage_point = rk_work[DOPRI_STAGES * P : (DOPRI_STAGES + 1) * P]
    num = 0.0
    den = 0.0
    for p in range(P):
        num += (K[DOPRI_STAGES - 1, p] - K[DOPRI_STAGES - 2, p]) ** 2
        den += (y_new[p] - stage_point[p]) ** 2
    if den > 0.0 and h * math.sqrt(num / den) > STIFF_HRHO:
        work[VOTES] += 1.0
        work[CALM] = 0.0
    else:
        work[CALM] += 1.0
        if work[CALM] >= NONSTIFF_RESET:
            work[VOTES] = 0.0
    if work[VOTES] >= STIFF_VOTES and work[NO_SECOND] == 0.0:
        probe = rk_work[:P]  # one Hessian-vector product tells whether σ″ exists (NaN without)
        if math.isfinite(functions[1](prob, y_new, f_new, probe)) and math.isfinite(probe.sum()):
            _switch(work, t + h, STIFF)
            stiff_work[attempts.STARTED] = 0.0
        else:
            work[NO_SECOND] = 1.0
            work[VOTES] = 0.0
    return err, n_grad, loss_new


@compiled(sig.ATTEMPT)
def auto_attempt(functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol):
    n_dopri = int(params[0])
    dopri = params[1 : 1 + n_dopri]
    bdf_params = params[1 + n_dopri :]
    P = y.size
    rk_work = work[HEADER : HEADER + (DOPRI_STAGES + 1) * P]
    stiff_work = work[HEADER + (DOPRI_STAGES + 1) * P :]
    outcome = attempts.begin(work, t)
    work[N_PARAMS] = P
    if work[MODE] == NONSTIFF:
        return _nonstiff_step(functions, prob, dopri, t, y, f, h, y_new, f_new, work, rk_work, stiff_work, rtol,
                              atol, outcome)
    err, n_grad, loss_new = bdf.bdf_attempt(functions, prob, bdf_params, t, y, f, h, y_new, f_new, stiff_work,
                                            rtol, atol)
    rho = jacobian.spectral_radius(bdf.jacobian_region(stiff_work, P, bdf_params), P)
    work[attempts.PROPOSAL] = stiff_work[attempts.PROPOSAL]
    if err <= 1.0 and math.isfinite(loss_new):
        work[STEPS + STIFF] += 1.0
        work[CALM] = work[CALM] + 1.0 if h * rho < NONSTIFF_HRHO else 0.0
        if work[CALM] >= NONSTIFF_VOTES:
            _switch(work, t + h, NONSTIFF)
            work[attempts.PROPOSAL] = min(work[attempts.PROPOSAL], 3.0 / max(rho, 1e-300))
            work[ERR_PREV] = 1e-4
    return err, n_grad, loss_new


def _work_size(P, bdf_params):
    return HEADER + (DOPRI_STAGES + 1) * P + int(bdf.work_size(P, bdf_params))


def _describe_with(bdf_params):
    describe_bdf = bdf.describe_with(bdf_params)

    def describe(work):
        P = int(work[N_PARAMS])
        n = int(work[SWITCHES])
        logged = min(n, MAX_LOGGED)
        return {
            "steps": {name: int(work[STEPS + i]) for i, name in enumerate(MODES) if work[STEPS + i] > 0},
            "switches": n,
            "switch_times": [float(x) for x in work[LOG_T : LOG_T + logged]],
            "switched_to": [MODES[int(m)] for m in work[LOG_MODE : LOG_MODE + logged]],
            "mode": MODES[int(work[MODE])],
            "second_derivatives": bool(work[NO_SECOND] == 0.0),
            "bdf": describe_bdf(work[HEADER + (DOPRI_STAGES + 1) * P :]),
        }

    return describe


class Auto(Integrator):
    """dopri5 and BDF, switched automatically; ``bdf_options`` go to :func:`sadbench.solvers.bdf.pack`
    (e.g. ``jacobian="dense"``)."""

    def __init__(self, name, dopri5_tableau, description="", **bdf_options):
        dopri = pack_tableau(dopri5_tableau)
        bdf_params = bdf.pack(**bdf_options)
        params = np.concatenate([[dopri.size], dopri, bdf_params]).astype(np.float64)
        super().__init__(
            name=name, order=5, attempt=auto_attempt, work_size=lambda P: _work_size(P, bdf_params),
            params=params, error_order=4,
            stiff=True, step_control="method", describe=_describe_with(bdf_params), description=description,
        )
