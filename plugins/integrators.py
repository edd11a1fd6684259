"""Built-in explicit Runge–Kutta integrators, each a Butcher tableau run by sadbench's generic stepper."""

from sadbench import ButcherTableau, ExplicitRungeKutta, hookimpl

EULER = ButcherTableau(c=[0.0], A=[[0.0]], b=[1.0], order=1)

HEUN = ButcherTableau(c=[0.0, 1.0], A=[[0.0, 0.0], [1.0, 0.0]], b=[0.5, 0.5], order=2)

RK4 = ButcherTableau(
    c=[0.0, 0.5, 0.5, 1.0],
    A=[[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]],
    b=[1 / 6, 1 / 3, 1 / 3, 1 / 6],
    order=4,
)

# Bogacki–Shampine 3(2), first same as last.
BOSH3 = ButcherTableau(
    c=[0.0, 0.5, 0.75, 1.0],
    A=[[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.75, 0, 0], [2 / 9, 1 / 3, 4 / 9, 0]],
    b=[2 / 9, 1 / 3, 4 / 9, 0.0],
    order=3,
    b_hat=[7 / 24, 1 / 4, 1 / 3, 1 / 8],
    error_order=2,
)

# Dormand–Prince 5(4), first same as last.
DOPRI5 = ButcherTableau(
    c=[0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0],
    A=[
        [0, 0, 0, 0, 0, 0, 0],
        [1 / 5, 0, 0, 0, 0, 0, 0],
        [3 / 40, 9 / 40, 0, 0, 0, 0, 0],
        [44 / 45, -56 / 15, 32 / 9, 0, 0, 0, 0],
        [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729, 0, 0, 0],
        [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656, 0, 0],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
    ],
    b=[35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0],
    order=5,
    b_hat=[5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40],
    error_order=4,
)


@hookimpl
def sadbench_register_integrators(register):
    register(ExplicitRungeKutta("euler", EULER, description="explicit Euler = gradient descent with η = dt"))
    register(ExplicitRungeKutta("heun", HEUN, description="Heun's method, order 2"))
    register(ExplicitRungeKutta("rk4", RK4, description="classical Runge–Kutta, order 4"))
    register(ExplicitRungeKutta("bosh3", BOSH3, description="Bogacki–Shampine 3(2), adaptive, PI control"))
    register(ExplicitRungeKutta("dopri5", DOPRI5, description="Dormand–Prince 5(4), adaptive, PI control"))
