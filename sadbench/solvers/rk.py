"""One generic explicit Runge–Kutta step that runs any :class:`~sadbench.solvers.tableau.ButcherTableau`.

The tableau travels packed in ``params`` (``[s, fsal, adaptive, A (s·s), b (s), b - b_hat (s)]``), so one
compiled step serves every tableau, activation and loss. Stage 1 reuses ``f = -∇L(y)`` from the previous
step and the new state's gradient is always computed (it is the next step's stage 1), so a FSAL tableau
like dopri5 costs s-1 gradients per step and RK4 costs 4.
"""

import math

import numpy as np

from sadbench import signatures as sig
from sadbench.jit import compiled
from sadbench.model.precision import FASTMATH
from sadbench.solvers.vectors import copy
from sadbench.specs import Integrator


def pack_tableau(tableau):
    s = tableau.stages
    head = [s, float(tableau.fsal), float(tableau.b_hat is not None)]
    return np.concatenate([head, tableau.A.ravel(), tableau.b, tableau.error_weights]).astype(np.float64)


@compiled(sig.ATTEMPT, fastmath=FASTMATH)
def rk_attempt(functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol):
    rhs = functions[0]
    s = int(params[0])
    fsal, adaptive = params[1] > 0.0, params[2] > 0.0
    A = params[3 : 3 + s * s].reshape((s, s))
    b = params[3 + s * s : 3 + s * s + s]
    e = params[3 + s * s + s : 3 + s * s + 2 * s]
    P = y.size
    K = work[: s * P].reshape((s, P))
    y_stage = work[s * P : (s + 1) * P]
    copy(K[0], f)
    n_grad = 0.0
    last_stage = s - 1 if fsal else s
    for i in range(1, last_stage):
        copy(y_stage, y)
        for j in range(i):
            coef = h * A[i, j]
            if coef != 0.0:
                for p in range(P):
                    y_stage[p] += coef * K[j, p]
        rhs(prob, y_stage, K[i])
        n_grad += 1.0
    copy(y_new, y)
    for j in range(last_stage):
        coef = h * b[j]
        if coef != 0.0:
            for p in range(P):
                y_new[p] += coef * K[j, p]
    loss_new = rhs(prob, y_new, f_new)
    n_grad += 1.0
    if not adaptive:
        return 0.0, n_grad, loss_new
    if fsal:
        copy(K[s - 1], f_new)
    err = 0.0
    for p in range(P):
        est = 0.0
        for j in range(s):
            est += e[j] * K[j, p]
        ratio = h * est / (atol + rtol * max(abs(y[p]), abs(y_new[p])))
        err += ratio * ratio
    return math.sqrt(err / P), n_grad, loss_new


class ExplicitRungeKutta(Integrator):
    """An integrator defined by a Butcher tableau: ``ExplicitRungeKutta("rk4", tableau)``."""

    def __init__(self, name, tableau, description=""):
        stages = tableau.stages
        super().__init__(
            name=name,
            order=tableau.order,
            attempt=rk_attempt,
            work_size=lambda n_params: (stages + 1) * n_params,
            params=pack_tableau(tableau),
            error_order=tableau.error_order,
            description=description,
        )
        object.__setattr__(self, "tableau", tableau)
