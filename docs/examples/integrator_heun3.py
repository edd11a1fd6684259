"""An integrator plugin given by its Butcher tableau: Heun's third-order method.

``ButcherTableau`` checks itself when it is created: A strictly lower triangular, the
rows of A summing to c, and the order conditions up to ``order`` (from rooted trees);
give ``b_hat`` and ``error_order`` as well for an adaptive method with an embedded error
estimate. ``ExplicitRungeKutta`` runs any tableau with sadbench's compiled stepper. Run:
``python docs/examples/integrator_heun3.py``.
"""

import sadbench

HEUN3 = sadbench.ButcherTableau(
    c=[0.0, 1 / 3, 2 / 3],
    A=[[0.0, 0.0, 0.0], [1 / 3, 0.0, 0.0], [0.0, 2 / 3, 0.0]],
    b=[1 / 4, 0.0, 3 / 4],
    order=3,
)


@sadbench.hookimpl
def sadbench_register_integrators(register):
    register(
        sadbench.ExplicitRungeKutta(
            "heun3", HEUN3, description="Heun's third-order method"
        )
    )


if __name__ == "__main__":
    import numpy as np

    registry = sadbench.get_registry(paths=[__file__])
    net = sadbench.Network([1, 4, 1], activation="tanh", registry=registry)
    X = np.linspace(-1, 1, 16)[:, None]
    theta0 = net.init(seed=0)
    exact = sadbench.integrate(
        net, theta0, X, X**2, t_end=2.0, rtol=1e-13, atol=1e-13, detectors=None
    ).theta
    for dt in (0.2, 0.1, 0.05):
        sol = sadbench.integrate(
            net, theta0, X, X**2, integrator="heun3", dt=dt, t_end=2.0, detectors=None
        )
        print(
            f"dt = {dt:<5}  error {np.linalg.norm(sol.theta - exact):.3e}"
        )  # falls 8× per halving
