"""An integrator plugin with its own compiled step: explicit Euler whose step is
accepted while the gradient's direction barely turns (the rule of Geiger et al.'s
``gradientflow``, docs/science.md §5).

A method that no Butcher tableau expresses implements ``attempt`` with the signature
``sadbench.signatures.ATTEMPT``: it tries one step of size h from y (where f = −∇L(y)),
writes y_new and f_new = −∇L(y_new), and returns (err, gradients used, L(y_new)). The
driver accepts the step when err ≤ 1 and picks the next h with its PI controller from
err and ``error_order``. Here err = (1 − cos∠(f, f_new)) / tolerance; the angle grows
like h, so err like h² (``error_order=1``). The tolerance travels in ``params``; rtol
and atol are not used. Run: ``python docs/examples/integrator_angle_euler.py``.
"""

import math

import numpy as np
from numba import njit

import sadbench
from sadbench import signatures


@njit(signatures.ATTEMPT, cache=True)
def angle_euler_attempt(
    functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol
):
    rhs = functions[0]  # rhs(prob, θ, out) writes −∇L(θ) into out and returns L(θ)
    for p in range(y.size):
        y_new[p] = y[p] + h * f[p]
    loss_new = rhs(prob, y_new, f_new)
    dot, ff, gg = 0.0, 0.0, 0.0
    for p in range(y.size):
        dot += f[p] * f_new[p]
        ff += f[p] * f[p]
        gg += f_new[p] * f_new[p]
    cosine = dot / math.sqrt(ff * gg) if ff > 0.0 and gg > 0.0 else 1.0
    return (1.0 - cosine) / params[0], 1.0, loss_new


@sadbench.hookimpl
def sadbench_register_integrators(register):
    register(
        sadbench.Integrator(
            "angle_euler",
            order=1,
            attempt=angle_euler_attempt,
            work_size=lambda P: 0,
            params=np.array([1e-4]),
            error_order=1,
            description="explicit Euler, accepted while 1 - cos(f, f_new) <= 1e-4",
        )
    )


if __name__ == "__main__":
    registry = sadbench.get_registry(paths=[__file__])
    net = sadbench.Network([1, 8, 1], activation="tanh", registry=registry)
    X = np.linspace(-1, 1, 32)[:, None]
    sol = sadbench.integrate(
        net, net.init(seed=0), X, X**2, integrator="angle_euler", t_end=1e3
    )
    print(
        f"{sol.status}: L(1e3) = {sol.loss[-1]:.3e} after {sol.n_steps} steps "
        f"({sol.n_rejected} rejected)"
    )
