"""A local sadbench plugin file, loaded with ``sadbench.get_registry(paths=[this file])``.

It adds the softsign activation and three explicit Runge–Kutta methods given only by their tableaux:
Ralston's third-order method, Kutta's 3/8-rule fourth-order method, and the adaptive Heun–Euler 2(1) pair;
and the ``linear`` loss ℓ(z, y) = z·y, with which L and ∇L of a network [1, 1, 1] at θ = (x, 1), X = Y = [[1]]
are σ(x) and (σ′(x), σ(x)): a probe of the activations as the kernels evaluate them.
"""

import math

from numba import njit

import sadbench


@njit(cache=True)
def softsign(x):
    return x / (1.0 + abs(x))


@njit(cache=True)
def d_softsign(x):
    a = 1.0 + abs(x)
    return 1.0 / (a * a)


@njit(cache=True)
def d2_softsign(x):
    a = 1.0 + abs(x)
    return -2.0 * math.copysign(1.0, x) / (a * a * a)


RALSTON3 = sadbench.ButcherTableau(
    c=[0.0, 0.5, 0.75],
    A=[[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.75, 0.0]],
    b=[2 / 9, 1 / 3, 4 / 9],
    order=3,
)

RK38 = sadbench.ButcherTableau(
    c=[0.0, 1 / 3, 2 / 3, 1.0],
    A=[[0, 0, 0, 0], [1 / 3, 0, 0, 0], [-1 / 3, 1.0, 0, 0], [1.0, -1.0, 1.0, 0]],
    b=[1 / 8, 3 / 8, 3 / 8, 1 / 8],
    order=4,
)

HEUN_EULER = sadbench.ButcherTableau(
    c=[0.0, 1.0], A=[[0.0, 0.0], [1.0, 0.0]], b=[0.5, 0.5], order=2, b_hat=[1.0, 0.0], error_order=1
)


@sadbench.hookimpl
def sadbench_register_activations(register):
    register(
        sadbench.Activation("softsign", softsign, d_softsign, d2_softsign, smooth=False,
                            description="x/(1+|x|); C¹, its second derivative jumps at 0")
    )


@sadbench.hookimpl
def sadbench_register_integrators(register):
    register(sadbench.ExplicitRungeKutta("ralston3", RALSTON3, description="Ralston's method, order 3"))
    register(sadbench.ExplicitRungeKutta("rk38", RK38, description="Kutta's 3/8 rule, order 4"))
    register(sadbench.ExplicitRungeKutta("heun_euler", HEUN_EULER, description="Heun–Euler 2(1), adaptive"))


@njit(cache=True)
def linear(z, y):
    return z * y


@njit(cache=True)
def d_linear(z, y):
    return y


@njit(cache=True)
def d2_linear(z, y):
    return 0.0


@sadbench.hookimpl
def sadbench_register_losses(register):
    register(
        sadbench.Loss("linear", linear, d_linear, d2_linear,
                      description="z·y: L and ∇L are the network output and its gradient (a test probe)")
    )
