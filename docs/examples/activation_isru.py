"""An activation plugin: the inverse square root unit σ(x) = x / sqrt(1 + x²).

σ is bounded, analytic and semialgebraic, hence in the SAD class (docs/science.md §2),
and smooth and strictly increasing, so Chatterjee's criterion can apply to it too. Run
this file to integrate a small network with it: ``python
docs/examples/activation_isru.py``.
"""

import math

from numba import njit

import sadbench


@njit(cache=True)
def isru(x):
    return x / math.sqrt(1.0 + x * x)


@njit(cache=True)
def d_isru(x):
    s = 1.0 / math.sqrt(1.0 + x * x)
    return s * s * s  # (1 + x²)^(-3/2)


@njit(cache=True)
def d2_isru(x):
    s = 1.0 / math.sqrt(1.0 + x * x)
    return -3.0 * x * s**5  # -3x (1 + x²)^(-5/2)


@sadbench.hookimpl
def sadbench_register_activations(register):
    register(
        sadbench.Activation(
            "isru",
            isru,
            d_isru,
            d2_isru,
            smooth=True,
            sad=True,
            description="x / sqrt(1 + x²)",
        )
    )


if __name__ == "__main__":
    import numpy as np

    registry = sadbench.get_registry(paths=[__file__])
    net = sadbench.Network([1, 8, 1], activation="isru", registry=registry)
    X = np.linspace(-1, 1, 32)[:, None]
    sol = sadbench.integrate(
        net, net.init(seed=0), X, X**2, t_end=100.0, rtol=1e-8, atol=1e-10
    )
    print(
        f"L(0) = {sol.loss[0]:.3e}, L(100) = {sol.loss[-1]:.3e}, "
        f"verdict: {sol.verdict.label}"
    )
