"""The integrators and the compiled driver, measured against independent references.

References: an extended-precision (``np.longdouble``) classical RK4 solution built on the numpy oracle
(tests/naive.py), scipy's ``solve_ivp``, and exact identities of gradient flows (docs/science.md §2, §4).
"""

import os
import warnings

import naive
import numpy as np
import pytest
from conftest import BUILTIN_ORDERS, explicit_rk_names, plugin_registry
from scipy.integrate import cumulative_simpson, solve_ivp

import sadbench

REGISTRY = plugin_registry()
TABLEAU_METHODS = explicit_rk_names(REGISTRY)
FIXED_STEP = [n for n in TABLEAU_METHODS if not REGISTRY.get("integrator", n).adaptive]
ADAPTIVE = [n for n in TABLEAU_METHODS if REGISTRY.get("integrator", n).adaptive]
FIXED_STEP_ALL = [n for n in REGISTRY.names("integrator") if not REGISTRY.get("integrator", n).adaptive]

# A smooth small problem: tanh [1, 3, 1] with biases, three points.
WIDTHS, BIAS, ACT = [1, 3, 1], True, "tanh"
X3 = np.array([[-1.0], [0.3], [1.2]])
Y3 = np.array([[0.5], [-0.4], [0.8]])
THETA0 = np.random.default_rng(2).normal(size=naive.num_params(WIDTHS, BIAS))
T_ORDER = 0.5
ORDER_STEPS = np.array([32, 64, 128])

LD = np.longdouble
RK4_A = np.array([[0, 0, 0, 0], [LD(1) / 2, 0, 0, 0], [0, LD(1) / 2, 0, 0], [0, 0, 1, 0]], dtype=LD)
RK4_B = np.array([LD(1) / 6, LD(1) / 3, LD(1) / 3, LD(1) / 6])


def small_net():
    return sadbench.Network(WIDTHS, activation=ACT, bias=BIAS, registry=REGISTRY)


def fixed_step_version(name):
    """The method's tableau without its embedded weights: the same stepper run at a fixed step."""
    tab = REGISTRY.get("integrator", name).tableau
    return sadbench.ExplicitRungeKutta(f"{name}_fixed", sadbench.ButcherTableau(tab.c, tab.A, tab.b, tab.order))


def run_fixed(method, n_steps, t_end=T_ORDER, theta0=THETA0):
    return sadbench.integrate(small_net(), theta0, X3, Y3, integrator=method, dt=t_end / n_steps, t_end=t_end,
                              save=np.array([t_end]), detectors=None)


@pytest.fixture(scope="module")
def reference_end():
    """θ(T_ORDER) by RK4 with 4096 steps in extended precision (error ~1e-16)."""
    rhs = naive.gradient_flow_rhs(WIDTHS, BIAS, ACT, "mse", X3, Y3, dtype=LD)
    return naive.rk_fixed(rhs, THETA0, T_ORDER, 4096, RK4_A, RK4_B, dtype=LD).astype(np.float64)


@pytest.mark.parametrize("name", TABLEAU_METHODS)
def test_measured_order(name, reference_end):
    """Global error at T = 0.5 for dt = T/32, T/64, T/128; the log-log slope is the order.

    The horizon is short on purpose: Dormand–Prince's order-6 error coefficients are tiny, so over longer
    horizons its error at practical steps falls like dt^6.5 before the dt^5 term takes over.
    """
    method = fixed_step_version(name)
    order = REGISTRY.get("integrator", name).order
    if name in BUILTIN_ORDERS:
        assert order == BUILTIN_ORDERS[name]
    errors = np.array([np.linalg.norm(run_fixed(method, n).theta - reference_end) for n in ORDER_STEPS])
    assert np.all(errors > 1e-14), errors  # above the reference's and the arithmetic's noise
    slope = np.polyfit(np.log(T_ORDER / ORDER_STEPS), np.log(errors), 1)[0]
    assert abs(slope - order) <= 0.2, (slope, errors)


@pytest.mark.parametrize("name", TABLEAU_METHODS)
def test_fixed_step_matches_textbook_runge_kutta(name):
    """The compiled stepper does exactly what the tableau says (FSAL reuse included)."""
    tab = REGISTRY.get("integrator", name).tableau
    n = 16
    sol = run_fixed(fixed_step_version(name), n)
    ref = naive.rk_fixed(naive.gradient_flow_rhs(WIDTHS, BIAS, ACT, "mse", X3, Y3), THETA0, T_ORDER, n, tab.A, tab.b)
    assert np.linalg.norm(sol.theta - ref) <= 1e-13 * np.linalg.norm(ref)
    assert sol.n_steps == n
    stages_per_step = tab.stages - 1 if tab.fsal else tab.stages
    assert sol.n_grad == 1 + stages_per_step * n


@pytest.mark.parametrize("name", FIXED_STEP)
def test_fixed_step_integrators_run_at_dt(name):
    """Registered fixed-step methods take dt itself: T/dt steps, each of ``stages`` gradients."""
    tab = REGISTRY.get("integrator", name).tableau
    sol = sadbench.integrate(small_net(), THETA0, X3, Y3, integrator=name, dt=0.1, t_end=1.0,
                             save=sadbench.Save("linear", per_decade=5), detectors=None)
    assert sol.status == "success"
    assert sol.n_steps == 10
    assert sol.n_grad == 1 + (tab.stages - 1 if tab.fsal else tab.stages) * 10
    np.testing.assert_allclose(sol.t, np.linspace(0.0, 1.0, 6), rtol=0, atol=1e-15)


@pytest.mark.parametrize("name", ADAPTIVE)
def test_adaptive_integrators_meet_their_tolerance(name, reference_end):
    rtol = 1e-9
    sol = sadbench.integrate(small_net(), THETA0, X3, Y3, integrator=name, t_end=T_ORDER, rtol=rtol, atol=1e-12,
                             detectors=None)
    assert sol.status == "success" and sol.t_final == T_ORDER
    error = np.linalg.norm(sol.theta - reference_end)
    assert error <= 100 * rtol * np.linalg.norm(reference_end), error
    stages = REGISTRY.get("integrator", name).tableau.stages
    per_attempt = stages - 1 if REGISTRY.get("integrator", name).tableau.fsal else stages
    # every attempted step, plus the first gradient and the initial-step heuristic's
    assert sol.n_steps > 0
    assert sol.n_grad - per_attempt * (sol.n_steps + sol.n_rejected) in (1, 2)


def test_energy_identity_and_monotone_loss():
    """L(0) − L(t) = ∫_0^t ||∇L||² ds along a tight dopri5 trajectory, L non-increasing."""
    net = small_net()
    t_end = 3.0
    sol = sadbench.integrate(net, THETA0, X3, Y3, integrator="dopri5", t_end=t_end, rtol=1e-11, atol=1e-13,
                             save=sadbench.Save("linear", per_decade=3000), detectors=None)
    assert sol.status == "success"
    assert sol.t[0] == 0.0 and sol.t[-1] == t_end and sol.t.size == 3001
    assert sol.loss[0] == net.loss_and_grad(THETA0, X3, Y3)[0]
    dissipated = cumulative_simpson(sol.grad_norm**2, x=sol.t, initial=0.0)
    drop = sol.loss[0] - sol.loss
    assert drop[-1] > 0.3 * sol.loss[0]  # the flow really moved
    assert np.max(np.abs(drop - dissipated)) <= 1e-7 * drop[-1]
    assert np.all(np.diff(sol.loss) <= 0.0)


def test_label_noise_shift():
    """Duplicating every point with labels y ± δ adds δ² to the mse loss and leaves ∇L, hence the flow,
    unchanged (docs/science.md §2)."""
    net = small_net()
    delta = 0.3
    Xd = np.concatenate([X3, X3])
    Yd = np.concatenate([Y3 + delta, Y3 - delta])
    rng = np.random.default_rng(11)
    for theta in [THETA0, *rng.normal(size=(3, net.num_params))]:
        L, g = net.loss_and_grad(theta, X3, Y3)
        Ld, gd = net.loss_and_grad(theta, Xd, Yd)
        assert Ld == pytest.approx(L + delta**2, rel=1e-14)
        np.testing.assert_allclose(gd, g, rtol=1e-13, atol=1e-15 * np.linalg.norm(g))
    kw = dict(integrator="dopri5", t_end=5.0, rtol=1e-10, atol=1e-12, detectors=None)
    sol = sadbench.integrate(net, THETA0, X3, Y3, **kw)
    sold = sadbench.integrate(net, THETA0, Xd, Yd, **kw)
    np.testing.assert_allclose(sold.theta, sol.theta, rtol=1e-8)
    np.testing.assert_allclose(sold.loss - delta**2, sol.loss, rtol=1e-8, atol=1e-12)


def test_ensemble_equals_independent_runs():
    net = small_net()
    thetas = np.random.default_rng(0).normal(size=(3, net.num_params))
    before = thetas.copy()
    kw = dict(integrator="dopri5", t_end=5.0, rtol=1e-8)
    ens = sadbench.integrate(net, thetas, X3, Y3, **kw)
    np.testing.assert_array_equal(thetas, before)  # the caller's array is not integrated in place
    assert ens.theta.shape == thetas.shape and ens.loss.shape == (3, ens.t.size)
    assert len(ens.verdict) == 3
    steps = set()
    for e in range(3):
        one = sadbench.integrate(net, thetas[e], X3, Y3, **kw)
        np.testing.assert_array_equal(ens.theta[e], one.theta)
        np.testing.assert_array_equal(ens.loss[e], one.loss)
        np.testing.assert_array_equal(ens.grad_norm[e], one.grad_norm)
        assert ens.n_steps[e] == one.n_steps and ens.n_grad[e] == one.n_grad
        assert ens.status[e] == one.status == "success"
        assert ens.verdict[e].label == one.verdict.label
        steps.add(int(one.n_steps))
    assert len(steps) > 1  # the members really took their own step sizes


@pytest.mark.parametrize("name, dt", [("dopri5", None), ("bosh3", None), ("rk4", 0.01), ("euler", 0.01)])
def test_explicit_save_times_are_hit_exactly(name, dt):
    net = small_net()
    requested = np.array([0.05, 0.37, 1.234, 2.0])
    sol = sadbench.integrate(net, THETA0, X3, Y3, integrator=name, dt=dt, t_end=2.0, save=requested,
                             rtol=1e-10, atol=1e-12, detectors=None)
    np.testing.assert_array_equal(sol.t, np.concatenate([[0.0], requested]))
    ref = solve_ivp(naive.gradient_flow_rhs(WIDTHS, BIAS, ACT, "mse", X3, Y3), (0.0, 2.0), THETA0,
                    method="DOP853", t_eval=sol.t, rtol=1e-12, atol=1e-12)
    ref_loss = [naive.loss(th, X3, Y3, WIDTHS, BIAS, ACT, "mse") for th in ref.y.T]
    ref_norm = np.linalg.norm(ref.y, axis=0)
    tolerance = {"dopri5": 1e-8, "bosh3": 1e-8, "rk4": 1e-6, "euler": 1e-2}[name]
    np.testing.assert_allclose(sol.loss, ref_loss, rtol=tolerance)
    np.testing.assert_allclose(sol.norm, ref_norm, rtol=tolerance)


def test_generated_save_times_stay_on_the_fixed_step_grid():
    dt = 0.03
    sol = sadbench.integrate(small_net(), THETA0, X3, Y3, integrator="rk4", dt=dt, t_end=3.0, 
                             save=sadbench.Save(t_first=0.01), detectors=None)
    steps = sol.t / dt
    np.testing.assert_allclose(steps, np.round(steps), rtol=0, atol=1e-9)
    assert sol.t[-1] == 3.0 and np.all(np.diff(sol.t) > 0)


@pytest.mark.parametrize("name", FIXED_STEP_ALL)
@pytest.mark.parametrize("dt", [None, 0.0, -0.1])
def test_fixed_step_integrator_needs_a_positive_dt(name, dt):
    with pytest.raises(sadbench.SadbenchError, match=f"integrator '{name}' is fixed-step: give a positive dt"):
        sadbench.integrate(small_net(), THETA0, X3, Y3, integrator=name, dt=dt, t_end=1.0)


def test_unknown_integrator_is_named():
    message = r"unknown integrator 'dopri'; registered: .*dopri5.* \(did you mean 'dopri5'\?\)"
    with pytest.raises(sadbench.UnknownNameError, match=message):
        sadbench.integrate(small_net(), THETA0, X3, Y3, integrator="dopri", t_end=1.0)


# The two-parameter SAD toy (docs/science.md §4): N(x) = v·tanh(w x), θ = (w, v), data (1, 1), (2, 2); the mse
# mean over n = 2 points is the toy's ½Σr².
TOY_X = np.array([[1.0], [2.0]])
TOY_THETA0 = np.array([0.5, 0.5])


def toy_net():
    return sadbench.Network([1, 1, 1], activation="tanh", bias=False)


def toy_reference(Y, times):
    """LSODA (stiff-capable) on the oracle's gradient."""
    rhs = naive.gradient_flow_rhs([1, 1, 1], False, "tanh", "mse", TOY_X, Y)
    ref = solve_ivp(rhs, (0.0, times[-1]), TOY_THETA0, method="LSODA", t_eval=times, rtol=1e-11, atol=1e-13)
    assert ref.success
    return ref.y.T


def loglog_slope(t, y, t_from, t_to):
    keep = (t >= t_from) & (t <= t_to)
    return np.polyfit(np.log(t[keep]), np.log(y[keep]), 1)[0]


def check_sad_toy(t_end, window):
    net = toy_net()
    sol = sadbench.integrate(net, TOY_THETA0, TOY_X, TOY_X, integrator="dopri5", t_end=t_end, rtol=1e-8, atol=1e-10,
                             save=sadbench.Save(t_first=1.0, per_decade=10), detectors=None, max_steps=10**9)
    assert sol.status == "success"
    t, L, norm = sol.t, sol.loss, sol.norm
    # the toy's loss is ½Σr²
    w, v = TOY_THETA0
    assert L[0] == pytest.approx(0.5 * np.sum((v * np.tanh(w * TOY_X) - TOY_X) ** 2), rel=1e-15)
    # agrees with an independent stiff solver at every decade
    decades = np.flatnonzero(t >= 1.0)[::10]
    ref = toy_reference(TOY_X, t[decades])
    np.testing.assert_allclose(norm[decades], np.linalg.norm(ref, axis=1), rtol=1e-6)
    # L → 0 (never reached) while ||θ|| grows without bound: slopes −2/3 and 1/6 (w ~ t^(−1/6), ||θ|| ≈ 1/w)
    late = t >= 10.0
    assert np.all(np.diff(L[late]) < 0) and np.all(L > 0)
    assert np.all(np.diff(norm[late]) > 0)
    assert loglog_slope(t, L, *window) == pytest.approx(-2 / 3, abs=0.03)
    assert loglog_slope(t, norm, *window) == pytest.approx(1 / 6, abs=0.03)
    # ||θ||·||∇L|| → 0 on the divergent branch, like t^(−2/3) here
    assert loglog_slope(t, sol.R, *window) == pytest.approx(-2 / 3, abs=0.05)
    return sol


def test_sad_toy_diverges_with_vanishing_loss():
    """Integrated to t = 1e4, slopes over the last decade.

    Reaching t = 1e6 is out of reach of any explicit method in a unit test: the largest Hessian eigenvalue
    grows like 5/w² ~ t^(1/3) (≈ 1000 at t = 1e6), so dopri5 needs ~2e8 steps. See the slow test below.
    """
    sol = check_sad_toy(1e4, (1e3, 1e4))
    assert sol.loss[-1] < 2e-4 and sol.norm[-1] > 6.5
    assert sol.theta[0] > 0 and sol.theta[1] > 0


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SADBENCH_SLOW_TESTS"), reason="one to three minutes: set SADBENCH_SLOW_TESTS=1")
def test_sad_toy_diverges_with_vanishing_loss_long():
    """The same to t = 1e5 (11 million steps, one to three minutes): the slopes approach their limits."""
    check_sad_toy(1e5, (1e4, 1e5))


def test_reachable_toy_converges_exponentially():
    """Labels 2·tanh(x/2): θ → (w, v) = (1/2, 2) and L decays like exp(−2 λ_min t), λ_min the smallest
    Hessian eigenvalue at the minimum (computed from the oracle's gradient by central differences)."""
    Y = 2.0 * np.tanh(0.5 * TOY_X)
    sol = sadbench.integrate(toy_net(), TOY_THETA0, TOY_X, Y, integrator="dopri5", t_end=600.0, rtol=1e-10,
                             atol=1e-12, save=sadbench.Save("linear", per_decade=120), detectors=None)
    assert sol.status == "success"
    target = np.array([0.5, 2.0])
    assert min(np.linalg.norm(sol.theta - target), np.linalg.norm(sol.theta + target)) < 1e-8

    def grad(th):
        return naive.loss_and_grad(th, TOY_X, Y, [1, 1, 1], False, "tanh", "mse")[1]

    H = np.array([(grad(target + 1e-6 * e) - grad(target - 1e-6 * e)) / 2e-6 for e in np.eye(2)])
    lam_min = np.linalg.eigvalsh(0.5 * (H + H.T))[0]
    tail = sol.t >= 100.0
    rate = np.polyfit(sol.t[tail], np.log(sol.loss[tail]), 1)[0]
    assert rate == pytest.approx(-2.0 * lam_min, rel=0.01)


def test_reachable_toy_is_judged_converged():
    Y = 2.0 * np.tanh(0.5 * TOY_X)
    sol = sadbench.integrate(toy_net(), TOY_THETA0, TOY_X, Y, integrator="dopri5", t_end=2000.0, rtol=1e-10,
                             atol=1e-12)
    assert sol.verdict.label == "converged"
    assert np.linalg.norm(sol.theta - [0.5, 2.0]) < 1e-6


def test_ensemble_members_stop_on_their_own():
    """Reachable toy: two members converge (a terminal detector ends them), one starts on the saddle (0, 0),
    one is non-finite from the start; each member equals its single run, NaN after its own stop included."""
    Y = 2.0 * np.tanh(0.5 * TOY_X)
    thetas = np.array([[0.5, 0.5], [1.0, 3.0], [0.0, 0.0], [np.nan, 1.0]])
    kw = dict(integrator="dopri5", t_end=2000.0, rtol=1e-10, atol=1e-12,
              save=sadbench.Save("linear", per_decade=100))
    ens = sadbench.integrate(toy_net(), thetas, TOY_X, Y, **kw)
    assert ens.status[3] == "nonfinite"
    labels = [v.label for v in ens.verdict]
    assert labels[:2] == ["converged", "converged"] and labels[3] == "failed"
    assert ens.t_final[0] < 2000.0 and ens.t_final[1] < 2000.0 and ens.t_final[3] == 0.0
    np.testing.assert_array_equal(ens.theta[2], [0.0, 0.0])  # the saddle is a fixed point of the flow
    assert np.all(np.isnan(ens.loss[3]))
    for e, theta0 in enumerate(thetas):
        one = sadbench.integrate(toy_net(), theta0, TOY_X, Y, **kw)
        assert one.status == ens.status[e] and one.t_final == ens.t_final[e]
        np.testing.assert_array_equal(ens.loss[e], one.loss)
        np.testing.assert_array_equal(ens.theta[e], one.theta)
        after = ens.t > ens.t_final[e]
        assert np.all(np.isnan(ens.loss[e][after]))
        if e < 3:
            assert np.all(np.isfinite(ens.loss[e][~after]))


def test_step_size_collapse_fails():
    """An adaptive method whose step must fall below dt_min stops with "dt_min", judged a failure."""
    sol = sadbench.integrate(small_net(), THETA0, X3, Y3, integrator="dopri5", t_end=1.0, dt=1.0,
                             step=sadbench.StepControl(dt_min=0.1),
                             rtol=1e-12, atol=1e-14)
    assert sol.status == "dt_min"
    assert sol.verdict.label == "failed"
    assert sol.n_rejected >= 1 and sol.n_steps == 0


def test_overflow_in_one_step_fails():
    """Explicit Euler with an absurd step overflows the loss: status "nonfinite", verdict "failed"."""
    sol = sadbench.integrate(toy_net(), TOY_THETA0, TOY_X, TOY_X, integrator="euler", dt=1e200, t_end=1e250,
                             save=np.array([1e250]))
    assert sol.status == "nonfinite"
    assert sol.verdict.label == "failed" and sol.verdict.detector == "nonfinite"
    assert sol.n_steps == 0 and sol.t_final == 0.0
    np.testing.assert_array_equal(sol.theta, TOY_THETA0)  # the failed step is not taken


def test_unstable_step_blows_up_and_fails():
    """Gradient descent far beyond its stability limit grows geometrically until it overflows."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no numpy overflow warnings leak out
        sol = sadbench.integrate(toy_net(), TOY_THETA0, TOY_X, TOY_X, integrator="euler", dt=5.0, t_end=1e6,
                                 detectors=["nonfinite"])
    assert sol.status == "nonfinite"
    assert sol.verdict.label == "failed"
    assert 0 < sol.t_final < 1e6
    assert "non-finite" in sol.message
