"""Step-size control shared by the driver and by the methods that choose their own next step.

One formula, so that a method which controls its own steps (BDF, RKC, the ``auto`` switcher) behaves like
the driver's default controller wherever it does not need to differ.
"""

import math

from sadbench.jit import compiled


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
