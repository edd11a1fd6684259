"""A third-party sadbench plugin, discovered through the ``sadbench`` entry-point group.

Provides the ``arctan`` activation and the strong-stability-preserving third-order Runge–Kutta method of
Shu and Osher (``ssprk3``).
"""

import math

from numba import njit

import sadbench


@njit(cache=True)
def arctan(x):
    return math.atan(x)


@njit(cache=True)
def d_arctan(x):
    return 1.0 / (1.0 + x * x)


@njit(cache=True)
def d2_arctan(x):
    d = 1.0 + x * x
    return -2.0 * x / (d * d)


SSPRK3 = sadbench.ButcherTableau(
    c=[0.0, 1.0, 0.5],
    A=[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.25, 0.25, 0.0]],
    b=[1 / 6, 1 / 6, 2 / 3],
    order=3,
)


@sadbench.hookimpl
def sadbench_register_activations(register):
    register(sadbench.Activation("arctan", arctan, d_arctan, d2_arctan, description="arctan(x)"))


@sadbench.hookimpl
def sadbench_register_integrators(register):
    register(sadbench.ExplicitRungeKutta("ssprk3", SSPRK3, description="Shu–Osher SSP-RK3, order 3"))
