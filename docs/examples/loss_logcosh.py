"""A loss plugin: log-cosh, ℓ(z, y) = log cosh(z − y), quadratic near the label and
linear far from it.

sadbench averages ℓ over the data points (and sums it over the outputs): L = (1/n) Σ_i
Σ_j ℓ(z_ij, y_ij). Run this file to compare its gradient with a finite difference:
``python docs/examples/loss_logcosh.py``.
"""

import math

from numba import njit

import sadbench

LOG2 = math.log(2.0)


@njit(cache=True)
def logcosh(z, y):
    a = abs(z - y)
    return (
        a + math.log1p(math.exp(-2.0 * a)) - LOG2
    )  # log cosh a, without overflow for large a


@njit(cache=True)
def d_logcosh(z, y):
    return math.tanh(z - y)


@njit(cache=True)
def d2_logcosh(z, y):
    t = math.tanh(z - y)
    return 1.0 - t * t


@sadbench.hookimpl
def sadbench_register_losses(register):
    register(
        sadbench.Loss(
            "logcosh",
            logcosh,
            d_logcosh,
            d2_logcosh,
            labels="real",
            description="log cosh(z - y)",
        )
    )


if __name__ == "__main__":
    import numpy as np

    registry = sadbench.get_registry(paths=[__file__])
    net = sadbench.Network([1, 4, 1], activation="tanh", registry=registry)
    theta = net.init(seed=1)
    X = np.linspace(-1, 1, 16)[:, None]
    Y = np.sin(3 * X)
    L, g = net.loss_and_grad(theta, X, Y, loss="logcosh")
    e = np.zeros_like(theta)
    e[0] = 1e-6
    fd = (
        net.loss_and_grad(theta + e, X, Y, loss="logcosh")[0]
        - net.loss_and_grad(theta - e, X, Y, loss="logcosh")[0]
    ) / 2e-6
    print(f"L = {L:.6f}; dL/dθ0 = {g[0]:.8f}, finite difference {fd:.8f}")
