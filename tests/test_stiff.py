"""Stiff integrators (Rosenbrock-W, BDF/NDF, RKC, ``auto``) and a third-party stiff plugin, measured against
independent references: an extended-precision RK4 solution on the numpy oracle, the matrix exponential of a
linear gradient flow, and scipy's Radau.
"""

import textwrap

import naive
import numpy as np
import pytest
from numba import njit
from scipy.integrate import solve_ivp
from scipy.linalg import expm

import sadbench
from sadbench import Activation, Integrator
from sadbench.solvers.bdf import BDF
from sadbench.plugins import build_registry
from sadbench.solvers.rosenbrock import RosenbrockTableau, RosenbrockW
from sadbench_plugins.stiff_integrators import ROS34PW2

REGISTRY = sadbench.get_registry()
STIFF = [name for name in REGISTRY.names("integrator") if REGISTRY.get("integrator", name).stiff]

# The smooth order problem of test_integrators.py: tanh [1, 3, 1] with biases, three points, T = 0.5.
WIDTHS, BIAS, ACT = [1, 3, 1], True, "tanh"
X3 = np.array([[-1.0], [0.3], [1.2]])
Y3 = np.array([[0.5], [-0.4], [0.8]])
THETA0 = np.random.default_rng(2).normal(size=naive.num_params(WIDTHS, BIAS))
T_ORDER = 0.5
ORDER_STEPS = np.array([16, 32, 64, 128])

# A third-party stiff method in a dozen lines: linearly implicit Euler with the exact Hessian.
PLUGIN = '''
import numpy as np
from numba import njit

from sadbench import Integrator, hookimpl
from sadbench import signatures as sig


@njit(sig.ATTEMPT)
def attempt(functions, prob, params, t, y, f, h, y_new, f_new, work, rtol, atol):
    P = y.size
    H = work[: P * P].reshape((P, P))
    functions[2](prob, y, H)  # the flow's Jacobian is -H
    y_new[:] = y + np.linalg.solve(np.eye(P) + h * H, h * f)
    return 0.0, 1.0, functions[0](prob, y_new, f_new)


@hookimpl
def sadbench_register_integrators(register):
    register(Integrator("linearly_implicit_euler", order=1, attempt=attempt, work_size=lambda P: P * P,
                        stiff=True, second_order=True))
'''


@pytest.fixture(scope="module")
def plugin_registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("stiff_plugin") / "linearly_implicit_euler.py"
    path.write_text(textwrap.dedent(PLUGIN))
    return build_registry([path])


@pytest.fixture(scope="module")
def reference_end():
    """θ(T_ORDER) by RK4 with 4096 steps in extended precision (error ~1e-16)."""
    LD = np.longdouble
    A = np.array([[0, 0, 0, 0], [LD(1) / 2, 0, 0, 0], [0, LD(1) / 2, 0, 0], [0, 0, 1, 0]], dtype=LD)
    b = np.array([LD(1) / 6, LD(1) / 3, LD(1) / 3, LD(1) / 6])
    rhs = naive.gradient_flow_rhs(WIDTHS, BIAS, ACT, "mse", X3, Y3, dtype=LD)
    return naive.rk_fixed(rhs, THETA0, T_ORDER, 4096, A, b, dtype=LD).astype(np.float64)


def fixed_step(spec):
    """The same compiled attempt run at a fixed step (the driver ignores its error estimate)."""
    return Integrator(name=f"{spec.name}_fixed", order=spec.order, attempt=spec.attempt, work_size=spec.work_size,
                      params=spec.params, error_order=None, stiff=True, second_order=True,
                      step_control=spec.step_control)


def measured_order(method, reference_end, registry=REGISTRY, ramp=False):
    """Log-log slope of the error at T_ORDER against dt = T_ORDER/16 ... T_ORDER/128. With ``ramp`` the
    first steps grow geometrically (ratio 1.1) from 1e-6·dt, through save times, so that a multistep method
    starts with accurate history instead of the O(dt²) error of a first step of size dt."""
    net = sadbench.Network(WIDTHS, activation=ACT, bias=BIAS, registry=registry)
    errors = []
    for n in ORDER_STEPS:
        dt = T_ORDER / n
        save = np.concatenate([dt * np.geomspace(1e-6, 1.0, 146) if ramp else [], [T_ORDER]])
        sol = sadbench.integrate(net, THETA0, X3, Y3, integrator=method, dt=dt, t_end=T_ORDER, save=save,
                                 rtol=1e-10, atol=1e-10, detectors=None)
        assert sol.status == "success", sol.status
        errors.append(np.linalg.norm(sol.theta - reference_end))
    errors = np.array(errors)
    assert np.all(errors > 1e-14), errors
    return np.polyfit(np.log(T_ORDER / ORDER_STEPS), np.log(errors), 1)[0]


def test_builtin_stiff_integrators_are_registered_with_their_orders():
    assert {"ros34pw2", "bdf", "rkc", "auto"} <= set(REGISTRY.names("integrator"))
    orders = {name: REGISTRY.get("integrator", name).order for name in ("ros34pw2", "bdf", "rkc")}
    assert orders == {"ros34pw2": 3, "bdf": 5, "rkc": 2}
    assert all(REGISTRY.get("integrator", name).second_order for name in orders)


@pytest.mark.parametrize("jacobian", ["every_step", "frozen", "reuse"])
def test_rosenbrock_w_order(jacobian, reference_end):
    """Order 3 with a fresh Jacobian every step, still 3 with the first one kept for good, and 3 with the
    registered method's reuse policy: ROS34PW2 is a W-method, which is why reusing a stale Hessian costs no
    accuracy order."""
    method = fixed_step(RosenbrockW(f"ros_{jacobian}", ROS34PW2, jacobian=jacobian))
    assert abs(measured_order(method, reference_end) - 3) <= 0.2


def test_rkc_order(reference_end):
    assert abs(measured_order(fixed_step(REGISTRY.get("integrator", "rkc")), reference_end) - 2) <= 0.2


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5])
def test_bdf_order_at_fixed_order(order, reference_end):
    method = fixed_step(BDF(f"bdf{order}", min_order=order, max_order=order))
    assert abs(measured_order(method, reference_end, ramp=True) - order) <= 0.2


def test_third_party_stiff_plugin_gets_the_jacobian(plugin_registry, reference_end):
    method = plugin_registry.get("integrator", "linearly_implicit_euler")
    assert abs(measured_order(method, reference_end, registry=plugin_registry) - 1) <= 0.2


def test_rosenbrock_tableau_is_checked_against_the_order_conditions():
    b = np.array(ROS34PW2.b)
    b[1] += 1e-3
    b[2] -= 1e-3  # still sums to 1: the order-2 condition catches it
    with pytest.raises(ValueError, match="order-2"):
        RosenbrockTableau(ROS34PW2.alpha, ROS34PW2.gamma, b, ROS34PW2.b_hat, order=3, error_order=2)
    with pytest.raises(ValueError, match="order-3"):
        RosenbrockTableau(ROS34PW2.alpha, ROS34PW2.gamma, ROS34PW2.b_hat, ROS34PW2.b_hat, order=3, error_order=2)


def linear_stiff_problem():
    """Linear regression by gradient flow: N(x) = a·x + b, mse on x in [0, 60]. The Hessian A is constant
    with eigenvalues about 2.6e3 and 0.6, so θ(t) = θ* + exp(−At)(θ0 − θ*) exactly."""
    X = np.linspace(0.0, 60.0, 9)[:, None]
    Y = 0.3 * X + np.cos(X / 7.0)
    A = 2.0 / len(X) * np.array([[np.sum(X**2), np.sum(X)], [np.sum(X), len(X)]])
    star = np.linalg.lstsq(np.hstack([X, np.ones_like(X)]), Y[:, 0], rcond=None)[0]
    return X, Y, np.array([1.0, -2.0]), A, star


@pytest.mark.parametrize("name", STIFF + ["linearly_implicit_euler"])
def test_stiff_linear_flow_matches_the_matrix_exponential(name, plugin_registry):
    """Every registered stiff integrator (third-party ones included) crosses a stiffness ratio of ~4e3 with
    a fraction of the gradients that explicit Euler needs at its stability limit (t·λ_max/2 ≈ 1.3e5; dopri5
    takes 4.6e5), and agrees with the exact solution at every saved time."""
    X, Y, theta0, A, star = linear_stiff_problem()
    net = sadbench.Network([1, 1], activation="identity", registry=plugin_registry)
    adaptive = plugin_registry.get("integrator", name).adaptive
    t_end = 100.0
    sol = sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=t_end, rtol=1e-8, atol=1e-10,
                             save=sadbench.Save(per_decade=4, theta=True), detectors=None,
                             dt=None if adaptive else 0.05)
    assert sol.status == "success"
    exact = np.array([star + expm(-A * t) @ (theta0 - star) for t in sol.t])
    tolerance = 1e-6 if adaptive else 0.05  # linearly implicit Euler: order 1 at dt = 0.05
    assert np.max(np.linalg.norm(sol.theta_saved - exact, axis=1) / np.linalg.norm(exact, axis=1)) <= tolerance
    explicit_euler_gradients = t_end * np.linalg.eigvalsh(A).max() / 2
    assert sol.n_grad < explicit_euler_gradients / 4


def flow_for_scipy(net, X, Y):
    """fun(t, θ) = −∇L(θ) and jac(t, θ) = −∇²L(θ) from the compiled kernels, for ``solve_ivp``."""
    rhs, _, hessian = net.kernels("mse").functions
    widths, bias, work = net.problem_arrays(X, 1)
    prob = (X, Y, widths, bias, work[0])

    def fun(_, theta):
        out = np.empty(theta.size)
        rhs(prob, np.ascontiguousarray(theta), out)
        return out

    def jac(_, theta):
        H = np.empty((theta.size, theta.size))
        hessian(prob, np.ascontiguousarray(theta), H)
        return -H

    return fun, jac


@pytest.fixture(scope="module")
def tanh_x2_radau():
    """tanh 1-4-1 on y = x² (32 grid points): scipy's Radau at rtol 1e-12 with the exact Hessian."""
    net = sadbench.Network([1, 4, 1], activation="tanh")
    X = np.linspace(-1, 1, 32)[:, None]
    Y = X**2
    theta0 = net.init(seed=0)
    t = np.geomspace(1e-2, 1e3, 16)
    fun, jac = flow_for_scipy(net, X, Y)
    ref = solve_ivp(fun, (0, t[-1]), theta0, method="Radau", t_eval=t, rtol=1e-12, atol=1e-14, jac=jac)
    assert ref.success
    return net, X, Y, theta0, t, ref.y.T


@pytest.mark.parametrize("name", ["bdf", "ros34pw2", "rkc", "auto"])
def test_nonlinear_flow_agrees_with_scipy_radau(name, tanh_x2_radau):
    net, X, Y, theta0, t, ref = tanh_x2_radau
    sol = sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=t[-1],
                             save=sadbench.Save(times=t, theta=True), rtol=1e-10, atol=1e-12, detectors=None)
    assert sol.status == "success"
    error = np.linalg.norm(sol.theta_saved[1:] - ref, axis=1) / np.linalg.norm(ref, axis=1)
    assert error.max() <= 1e-6, error


def test_float32_eigenvectors_cost_bdf_no_accuracy(tanh_x2_radau):
    """BDF's Newton solves use the Hessian's eigenvectors in float32 (jacobian.py); Newton iterates on the
    float64 residual, so the result is as accurate as with float64 eigenvectors, at two tolerances."""
    net, X, Y, theta0, t, ref = tanh_x2_radau
    for rtol in (1e-7, 1e-10):
        errors = {}
        for precision in ("float32", "float64"):
            sol = sadbench.integrate(net, theta0, X, Y, integrator=BDF(f"bdf_{precision}", jacobian="dense",
                                                                          eigenvectors=precision),
                                     t_end=t[-1], save=sadbench.Save(times=t, theta=True), rtol=rtol,
                                     atol=1e-2 * rtol, detectors=None)
            errors[precision] = np.max(np.linalg.norm(sol.theta_saved[1:] - ref, axis=1)
                                       / np.linalg.norm(ref, axis=1))
        assert errors["float32"] <= max(2 * errors["float64"], 10 * rtol), (rtol, errors)
    with pytest.raises(ValueError, match="eigenvectors"):
        BDF("bdf16", eigenvectors="float16")


@pytest.mark.parametrize("name", ["bdf", "ros34pw2", "rkc", "auto"])
def test_ensemble_members_equal_independent_runs(name, tanh_x2_radau):
    """Each member's method state lives in its own work row: an ensemble is exactly its members run alone."""
    net, X, Y, _, _, _ = tanh_x2_radau
    thetas = net.init(seed=3, ensemble=3)
    options = dict(integrator=name, t_end=50.0, rtol=1e-8, atol=1e-10, detectors=None)
    ensemble = sadbench.integrate(net, thetas, X, Y, **options)
    for e in range(3):
        alone = sadbench.integrate(net, thetas[e], X, Y, **options)
        np.testing.assert_array_equal(ensemble.theta[e], alone.theta)
        np.testing.assert_array_equal(ensemble.loss[e], alone.loss)
        assert ensemble.integrator_stats[e] == alone.integrator_stats


def test_statistics_and_switches_are_recorded(tanh_x2_radau):
    net, X, Y, theta0, _, _ = tanh_x2_radau
    sol = sadbench.integrate(net, theta0, X, Y, integrator="auto", t_end=1e6, rtol=1e-8, atol=1e-11, detectors=None)
    stats = sol.integrator_stats
    assert sol.status == "success"
    assert stats["second_derivatives"] and stats["switches"] >= 1
    assert stats["switched_to"][0] == "bdf" and 0 < stats["switch_times"][0] < 1e6
    assert sum(stats["steps"].values()) == sol.n_steps and set(stats["steps"]) == {"dopri5", "bdf"}
    assert stats["bdf"]["jacobian_evaluations"] >= 1
    bdf = sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=10.0, detectors=None).integrator_stats
    assert bdf["jacobian_evaluations"] >= 1 and bdf["newton_iterations"] >= 1


@njit
def _tanh(x):
    return np.tanh(x)


@njit
def _d_tanh(x):
    return 1.0 - np.tanh(x) ** 2


def test_without_second_derivatives_stiff_methods_refuse_and_auto_stays_explicit():
    """An activation without σ″ has NaN Hessians: the stiff methods refuse it up front; ``auto`` detects the
    stiffness of the linear problem, finds no second derivatives and keeps going with dopri5."""
    X, Y, theta0, A, star = linear_stiff_problem()
    net = sadbench.Network([1, 1], activation=Activation("tanh_without_d2f", _tanh, _d_tanh))
    with pytest.raises(sadbench.SadbenchError, match="d2f"):
        sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=1.0, detectors=None)
    sol = sadbench.integrate(net, theta0, X, Y, integrator="auto", t_end=1.0, rtol=1e-8, atol=1e-10, detectors=None)
    assert sol.status == "success"
    assert sol.integrator_stats["second_derivatives"] is False
    assert set(sol.integrator_stats["steps"]) == {"dopri5"} and sol.integrator_stats["switches"] == 0
    assert np.allclose(sol.theta, star + expm(-A) @ (theta0 - star), rtol=1e-6)


def test_bdf_survives_the_step_clipped_to_a_save_time():
    """SAD 2D (P = 1781): a step clipped to 3e-6 before a save time, then the driver's jump back to 0.017.
    Rescaling D by that factor made an order-4 prediction of size 1e5, and Newton, linearised there, then
    failed at every halved step down to dt_min (t = 0.25). L(1) against dopri5 at rtol 1e-11."""
    registry = sadbench.get_registry()
    X, Y = registry.get("target", "polynomial")(seed=0, preset="sad2d", n=256, sampling="uniform")
    net = sadbench.Network([2, 20, 40, 20, 1], activation="silu")
    theta0 = net.init(seed=11, scheme="xavier_uniform", bias=0.0)
    ref = sadbench.integrate(net, theta0, X, Y, integrator="dopri5", t_end=1.0, rtol=1e-11, atol=1e-13,
                             detectors=None)
    sol = sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=1.0, rtol=1e-6, atol=1e-8, detectors=None)
    assert sol.status == "success", (sol.t_final, sol.integrator_stats)
    assert sol.integrator_stats["newton_failures"] == 0
    # rtol 1e-6: the global error is tolerance-proportional, measured 4.7e-6 (dense Jacobian) to 1.3e-5
    # (Lanczos model, Anderson-mixed Newton)
    assert abs(sol.loss_final - ref.loss_final) <= 3e-5 * ref.loss_final


def test_a_step_that_rounds_onto_a_save_time_lands_there():
    """Held-out "odd tanh 1-5-1 on 2x²−1", seed 11, BDF at t = 2.5e13: a step of 1e9 fell short of the save
    time by more than 1e-12 of the gap, so it was no hit, yet by less than half an ulp of t (0.0039), so
    t + h rounded onto the save time. The next attempt then had size 0, and the step control's
    proposal/h_try raised ZeroDivisionError out of the compiled loop. The driver's decisions replayed with
    control's own functions (BDF proposing its step) over such steps: each lands on the save time or ends
    strictly before it, and the next attempt is a step forward that the control can judge."""
    from sadbench.solvers import codes
    from sadbench.solvers.control import judge_attempt, next_attempt

    settings = np.zeros(codes.SETTINGS_SIZE)
    settings[[codes.DT_MAX, codes.SAFETY, codes.FACTOR_MIN, codes.FACTOR_MAX]] = np.inf, 0.9, 0.2, 10.0
    settings[[codes.ERROR_ORDER, codes.ORDER, codes.CONTROL]] = 5.0, 5.0, 1.0
    rng = np.random.default_rng(0)
    rounded_onto = 0
    for _ in range(2000):
        t = 10.0 ** rng.uniform(12.0, 14.0)
        t_save = t + t * 10.0 ** rng.uniform(-8.0, -4.5)  # a gap whose 1e-12 is below t's ulp
        remaining = t_save - t
        h = remaining - rng.uniform(1e-12 * remaining, 2.0 * np.spacing(t_save))
        rounded_onto += h < remaining * (1.0 - 1e-12) and t + h >= t_save
        h_try, hit, t_new = next_attempt(t, h, t_save)
        assert 0.0 < h_try <= remaining and (t_new == t_save if hit else t_new < t_save), (t, h, t_save)
        judge_attempt(0.5, 1.0, h, h_try, hit, t, 1e-4, 0.0, h_try, settings)
        if not hit:
            h_try, hit, _ = next_attempt(t_new, h, t_save)
            assert h_try > 0.0 and hit
            judge_attempt(0.5, 1.0, h, h_try, hit, t_new, 1e-4, 0.0, h_try, settings)
    assert rounded_onto > 100  # the regime of the bug: no hit by the relative margin, t + h rounds onto t_save



@pytest.fixture(scope="module")
def tanh_x2_late():
    """tanh 1-4-1 on y = x² at t = 1e11: the weights have grown and cancel, so the float64 gradient carries
    rounding noise of about 1e-4 of its size; L is 3e-11."""
    registry = sadbench.get_registry()
    X, Y = registry.get("target", "polynomial")(seed=0, expr="x^2", n=32, sampling="grid")
    net = sadbench.Network([1, 4, 1], activation="tanh")
    sol = sadbench.integrate(net, net.init(seed=0), X, Y, integrator="bdf", t_end=1e11, rtol=1e-8, atol=1e-10,
                             save=sadbench.Save(per_decade=1, t_first=1e2), detectors=None)
    return net, X, Y, sol


def test_gradient_noise_estimate_matches_the_rounding_error(tanh_x2_late):
    """BDF's estimate of the gradient's rounding noise σ (RMS per component) against the actual error of the
    float64 gradient, measured against the extended-precision numpy oracle at twenty points near θ."""
    from sadbench.solvers.bdf import _gradient_noise

    net, X, Y, sol = tanh_x2_late
    theta = sol.theta
    widths, bias, work = net.problem_arrays(X, 1)
    X64, Y64 = net.check_data(X, Y)
    prob = (X64, Y64, widths, bias, work[0])
    functions = net.kernels("mse").functions
    rng = np.random.default_rng(0)
    errors, estimates = [], []
    for _ in range(20):
        point = theta * (1.0 + 1e-9 * rng.normal(size=theta.size))
        _, grad = net.loss_and_grad(point, X, Y)
        _, exact = naive.loss_and_grad(point, X, Y, [1, 4, 1], True, "tanh", "mse", dtype=np.longdouble)
        errors.append(np.mean((grad - exact.astype(np.float64)) ** 2))
        estimates.append(_gradient_noise(functions, prob, point))
    actual = np.sqrt(np.mean(errors))
    assert actual > 1e-6 * np.linalg.norm(sol.grad)  # the regime this is about: noise well above eps·||∇L||
    assert 0.25 * actual <= np.median(estimates) <= 4.0 * actual, (np.median(estimates), actual)


def test_bdf_stays_cheap_where_the_gradient_is_at_rounding_level(tanh_x2_late):
    """From t = 1e11 to 1e13 L falls from 3e-11 to 1e-12 and the gradient's rounding noise grows to 1e-3 of
    its size. Asking each step for more accuracy than that made BDF shrink its steps and fail Newton: 51 200
    steps (17 600 of them to 1e12), against about 930 with the noise in the error scale and exact products
    there. The values agree with a reference at 100 times tighter tolerances, with the dense exact Hessian and
    plain Newton at scipy's tolerance (the Lanczos defaults at rtol 1e-10 end there with ||∇L|| 6 times too
    large: a stiff direction left unsettled)."""
    net, X, Y, sol = tanh_x2_late
    late = sol.resume(1e13, detectors=None)
    reference = BDF("bdf_reference", jacobian="dense", products="exact", anderson=0, newton_tol=None)
    tight = sadbench.integrate(net, sol.theta, X, Y, integrator=reference, t_end=1e13 - 1e11, rtol=1e-10,
                               atol=1e-12, save=sadbench.Save(per_decade=1, t_first=1e2), detectors=None)
    steps = late.n_steps - sol.n_steps
    assert late.status == "success" and steps < 3000, steps
    assert abs(late.loss_final - tight.loss_final) <= 1e-3 * tight.loss_final
    # ∇L itself is only known to its rounding noise there, about 1.5% of its norm
    assert np.linalg.norm(late.grad - tight.grad) <= 5e-2 * np.linalg.norm(tight.grad)
