"""Step-size control: one definition of every decision the driver loop makes about a step, shared by the CPU
driver (:mod:`sadbench.solvers.driver`), the CUDA kernels (which compile these functions as device
functions) and the methods that choose their own next step (BDF, RKC, the ``auto`` switcher).

The functions take and return scalars (and the read-only settings vector), so the CPU loop, which keeps a
member's state in an array, and a GPU thread, which keeps it in registers, call the same code.
"""

import math

from sadbench.jit import compiled
from sadbench.solvers.codes import (
    CONTROL, DT_MAX, DT_MIN, DT_MIN_, ERROR_ORDER, FACTOR_MAX, FACTOR_MIN, MAX_STEPS_, NONFINITE, ORDER, RUNNING,
    SAFETY, STOP_GRAD, STOP_GRAD_BELOW, STOP_NORM, STOP_NORM_ABOVE,
)


@compiled()
def step_factor(err, err_prev, error_order, safety, factor_min, factor_max):
    """Factor for the next step size after a step with scaled error ``err``.

    A rejected step (err > 1, or not finite) gets the I-controller ``safety·err^(-1/(q+1))``; an accepted
    one Hairer's PI controller ``safety·err^(-0.7/(q+1))·err_prev^(0.4/(q+1))``, which damps the
    oscillation of explicit methods at their stability boundary. ``q`` is the error estimate's order.
    """
    q1 = error_order + 1.0
    if not err <= 1.0:
        if math.isfinite(err):
            return max(factor_min, safety * err ** (-1.0 / q1))
        return factor_min
    factor = safety * max(err, 1e-10) ** (-0.7 / q1) * err_prev ** (0.4 / q1)
    return min(factor_max, max(factor_min, factor))


@compiled()
def scaled_rms(v, y_old, y_new, rtol, atol):
    """RMS of ``v`` scaled by ``atol + rtol·max(|y_old|, |y_new|)``: the error norm all methods use."""
    s = 0.0
    for p in range(v.size):
        r = v[p] / (atol + rtol * max(abs(y_old[p]), abs(y_new[p])))
        s += r * r
    return math.sqrt(s / max(v.size, 1))


@compiled()
def trial_step(d0, d1):
    """Hairer–Nørsett–Wanner's first trial step (scipy's ``select_initial_step``) from the scaled RMS norms
    ``d0`` of y and ``d1`` of f(y); the caller then evaluates f at y + h0·f(y)."""
    return 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1


@compiled()
def starting_step(h0, d1, d2, settings):
    """The starting step from the trial step ``h0``, ``d1`` and the scaled RMS ``d2`` of the change of f over
    h0 divided by h0 (the second derivative's size), capped by ``dt_max``."""
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (settings[ORDER] + 1.0))
    return min(100.0 * h0, h1, settings[DT_MAX])


@compiled()
def out_of_steps(n_steps, n_rejected, step_base, settings):
    """Whether this call's attempts (``max_steps`` counts those since ``step_base``) are used up."""
    return n_steps + n_rejected - step_base >= settings[MAX_STEPS_]


@compiled()
def next_attempt(t, h, t_save):
    """(h_try, hit, t_new): the step to try from t, which is h unless h reaches (within rounding) the next
    save time, where it lands exactly (``hit``); t_new is the time the step ends at if accepted. A step whose
    end t + h rounds to the save time or past it lands there too: at large t the relative margin is below
    t's rounding, and a step that reached t_save without hitting it would leave the next one of size 0 (or
    negative)."""
    remaining = t_save - t
    hit = h >= remaining * (1.0 - 1e-12) or t + h >= t_save
    if hit:
        return remaining, True, t_save
    return h, False, t + h


@compiled()
def judge_attempt(err, loss_new, h, h_try, hit, t, err_prev, rejected_last, proposal, settings):
    """What the driver makes of an attempt of size ``h_try`` from t with scaled error ``err`` and new loss
    ``loss_new``: ``(rejected, status, h, err_prev, rejected_last)``, the new step size and controller state.

    Fixed-step methods (``error_order`` 0) accept every finite step and stop with ``NONFINITE`` otherwise.
    Adaptive ones accept a finite step with err ≤ 1; the next step comes from the PI controller
    (:func:`step_factor`, no growth right after a rejection) or, with ``control`` set, from the method's own
    ``proposal``, clamped to ``[factor_min, factor_max]`` times the step (no growth on a rejection). A step
    shortened to hit a save time does not shrink the next one. A rejection that would take the step below
    ``dt_min`` or the rounding of t stops with ``DT_MIN``.
    """
    finite = math.isfinite(loss_new) and math.isfinite(err)
    if settings[ERROR_ORDER] <= 0.0:
        return False, (RUNNING if finite else NONFINITE), h, err_prev, rejected_last
    accepted = finite and err <= 1.0
    factor_min, factor_max = settings[FACTOR_MIN], settings[FACTOR_MAX]
    if settings[CONTROL] > 0.0:
        if not (proposal > 0.0 and math.isfinite(proposal)):
            proposal = h_try * factor_min
        factor = min(max(proposal / h_try, factor_min), factor_max if accepted else 1.0)
    else:
        factor = step_factor(err if finite else math.nan, err_prev, settings[ERROR_ORDER], settings[SAFETY],
                             factor_min, 1.0 if rejected_last > 0.0 else factor_max)
    if not accepted:
        h = h_try * factor
        too_small = h < settings[DT_MIN_] or h <= max(1e-14 * abs(t), 1e-300)
        return True, (DT_MIN if too_small else RUNNING), h, err_prev, 1.0
    h_next = h_try * factor
    h = max(h, h_next) if hit and h_try < h else h_next
    return False, RUNNING, min(h, settings[DT_MAX]), max(err, 1e-4), 0.0


@compiled()
def terminal_event(norm, grad_norm, settings):
    """The status after an accepted step whose θ and -∇L have norms ``norm`` and ``grad_norm``: the terminal
    events (``stop_norm_above``, ``stop_grad_below``) or ``RUNNING``. A non-finite gradient is checked
    before the step is recorded (:data:`~sadbench.solvers.codes.NONFINITE`)."""
    if norm > settings[STOP_NORM_ABOVE]:
        return STOP_NORM
    if grad_norm < settings[STOP_GRAD_BELOW]:
        return STOP_GRAD
    return RUNNING
