"""Built-in stiff integrators, which use the exact Hessian of the loss (the flow's Jacobian is -∇²L)."""

from sadbench import hookimpl
from sadbench.solvers.auto import Auto
from sadbench.solvers.bdf import BDF
from sadbench.solvers.rkc import RKC
from sadbench.solvers.rosenbrock import RosenbrockTableau, RosenbrockW
from sadbench_plugins.integrators import DOPRI5

_G = 0.43586652150845900
# Rang & Angermann (2005), ROS34PW2: 4 stages, order 3, embedded order 2, L-stable, stiffly accurate,
# a W-method (order kept with an approximate Jacobian).
ROS34PW2 = RosenbrockTableau(
    alpha=[[0, 0, 0, 0],
           [8.7173304301691801e-1, 0, 0, 0],
           [8.4457060015369423e-1, -1.1299064236484185e-1, 0, 0],
           [0, 0, 1, 0]],
    gamma=[[_G, 0, 0, 0],
           [-8.7173304301691801e-1, _G, 0, 0],
           [-9.0338057013044082e-1, 5.4180672388095326e-2, _G, 0],
           [2.4212380706095346e-1, -1.2232505839045147, 5.4526025533510214e-1, _G]],
    b=[2.4212380706095346e-1, -1.2232505839045147, 1.5452602553351020, _G],
    b_hat=[3.7810903145819369e-1, -9.6042292212423178e-2, 0.5, 2.1793326075422950e-1],
    order=3,
    error_order=2,
)


@hookimpl
def sadbench_register_integrators(register):
    register(RosenbrockW("ros34pw2", ROS34PW2, description="Rosenbrock-W 3(2), L-stable; Hessian reused "
                                                          "until a step is rejected"))
    register(BDF("bdf", description="variable-order NDF 1–5 (scipy's BDF); its Jacobian a low-rank Lanczos model "
                                    "from Hessian products: no P³, no refactorisation when h or the order changes"))
    register(RKC("rkc", description="Runge–Kutta–Chebyshev order 2, matrix-free (power iteration on "
                                    "Hessian-vector products): for large P"))
    register(Auto("auto", DOPRI5, description="dopri5 where the flow is not stiff, BDF where it is; switches "
                                              "both ways and records them"))
