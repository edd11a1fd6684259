"""Every built-in detector on synthetic trajectories whose fate is known (docs/science.md §2, §4, §5).

The series are written down in closed form (power-law and logarithmic growth, exponential convergence, a
saddle passage built from the energy identity, plateaus), so each test states the answer it expects and the
horizon at which it may be given. Landscape probes are small stubs or real networks.
"""

import numpy as np
import pytest

import sadbench
from sadbench.solution import Probe, Trace
from sadbench.verdicts.verdict import combine
from sadbench.verdicts.series import Series, first_stable
from sadbench_plugins.detectors import (Chatterjee, CriticalPoint, Directional, Divergence, NonFinite,
                                        NormThreshold, RProduct)

ALL = (NonFinite, NormThreshold, CriticalPoint, Divergence, Directional, Chatterjee, RProduct)


def times(horizon, per_decade=10, t_first=1e-2):
    """The default log save schedule: t = 0, then per_decade points per decade from t_first."""
    n = round(np.log10(horizon / t_first) * per_decade) + 1
    return np.concatenate([[0.0], np.geomspace(t_first, horizon, n)])


def make_trace(t, loss, norm, grad, align=None, dir_cos=None, status="success", theta=None, theta0=None,
               probe=None):
    n = len(t)
    align = np.full(n, 0.5) if align is None else align
    dir_cos = np.ones(n) if dir_cos is None else dir_cos
    theta = np.array([norm[-1], 0.0]) if theta is None else theta
    return Trace(t=np.asarray(t, float), loss=np.asarray(loss, float), norm=np.asarray(norm, float),
                 grad_norm=np.asarray(grad, float), align=np.asarray(align, float),
                 dir_cos=np.asarray(dir_cos, float), n_grad=np.arange(n, dtype=float), status=status,
                 t_final=float(t[-1]), theta=theta, grad=np.zeros_like(theta), theta0=theta0, probe=probe)


def verdict(trace, detectors=ALL):
    findings = [f for f in (d().assess(trace) for d in detectors) if f is not None]
    return combine(findings, trace.t_final)


# Closed-form trajectories ------------------------------------------------------------------------------

def sad_toy(horizon, C=0.4):
    """The SAD toy's slow manifold (docs/science.md §4): ||θ|| ≈ 1/w, w = (24C(t+1))^(-1/6), L = C w⁴."""
    t = times(horizon)
    w = (24 * C * (t + 1)) ** (-1 / 6)
    loss = C * w**4
    grad = np.sqrt(2 / 3 * loss / (t + 1))  # -dL/dt = ||∇L||²
    return make_trace(t, loss, np.sqrt(w**-2 + w**2), grad, align=1 - 2 * w**4)


def logistic_like(horizon, L_star=0.0, rate=5.0):
    """||θ|| = 1 + rate·ln(1 + t) and L = L* + 1/(1 + t), so ||∇L|| = 1/(1 + t): logistic regression."""
    t = times(horizon)
    return make_trace(t, L_star + 1 / (1 + t), 1 + rate * np.log1p(t), 1 / (1 + t), align=1 - 1 / np.log(2 + t) ** 2)


def exponential(horizon, L_star=0.0, floor=1e-10, probe=None):
    """||θ|| = 3 − e^(−t), L = L* + e^(−2t), ||∇L|| = √2·e^(−t), each down to an integrator noise floor."""
    t = times(horizon)
    grad = np.maximum(np.sqrt(2) * np.exp(-t), floor)
    loss = L_star + np.maximum(np.exp(-2 * t), floor**2)
    return make_trace(t, loss, 3 - np.exp(-t), grad, probe=probe)


def saddle_passage(horizon, probe=None):
    """||∇L|| decays (approach to a saddle), grows (escape), decays again (convergence to L = 0); ||θ|| and L
    follow from the path and the energy identity, so the series is a consistent radial flow."""
    fine = np.linspace(0, max(horizon, 200.0), 400_001)
    log_g = np.where(fine < 20, -fine, np.where(fine < 45, -20 + 0.8 * (fine - 20), 0.0 - (fine - 45)))
    g = np.exp(np.minimum(log_g, 0.0))
    step = np.diff(fine)
    path = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] + g[:-1]) * step)])
    energy = np.concatenate([[0.0], np.cumsum(0.5 * (g[1:] ** 2 + g[:-1] ** 2) * step)])
    t = times(horizon)
    loss = np.interp(t, fine, energy[-1] - energy) + 1e-30
    return make_trace(t, loss, 1 + np.interp(t, fine, path), np.interp(t, fine, g), probe=probe)


def plateau_then_growth(horizon, plateau_end=1e5):
    """A fit (||θ||: 1 → 3 by t ≈ 10), a plateau where ||θ|| creeps and ||∇L|| ~ t^-0.5, then power growth."""
    t = times(horizon)
    norm = 1 + 2 * (1 - np.exp(-t / 3)) + 1e-3 * np.log1p(t / 10)
    norm = norm + np.where(t > plateau_end, (t / plateau_end) ** (1 / 6) - 1, 0.0)
    grad = 1e-2 * (1 + t) ** -0.5
    loss = 1e-3 * (1 + t) ** -0.2
    return make_trace(t, loss, norm, grad)


# Divergence -----------------------------------------------------------------------------------------------

def test_power_law_growth_is_diverging_with_zero_limit():
    trace = sad_toy(1e5)
    finding = Divergence().assess(trace)
    assert finding.label == "diverging" and finding.evidence["L_star_kind"] == "zero"
    assert finding.evidence["norm_power"] == pytest.approx(1 / 6, abs=0.02)
    assert finding.evidence["R_slope"] == pytest.approx(-2 / 3, abs=0.05)
    assert 10 <= finding.time < 1e5  # three decades of growth needed after t_first = 0.01
    assert verdict(trace).label == "diverging"


def test_logarithmic_growth_is_diverging_and_reports_the_limit():
    to_zero = Divergence().assess(logistic_like(1e6))
    assert to_zero.label == "diverging" and to_zero.evidence["L_star_kind"] == "zero"
    assert to_zero.evidence["norm_per_log_t"] == pytest.approx(5.0, rel=0.01)
    positive = Divergence().assess(logistic_like(1e6, L_star=0.23))
    assert positive.label == "diverging" and positive.evidence["L_star_kind"] == "positive"
    assert positive.limit_loss == pytest.approx(0.23, rel=1e-4)


def test_a_short_horizon_is_undecided_with_a_reason():
    finding = Divergence().assess(sad_toy(3.0))
    assert finding.label == "undecided" and finding.reason.startswith("horizon too short")


def test_plateau_is_neither_converged_nor_diverging_until_growth_resumes():
    short = plateau_then_growth(1e5)
    assert verdict(short).label == "undecided"
    assert "plateau" in verdict(short).reason
    long = plateau_then_growth(1e9)
    assert verdict(long).label == "diverging" and verdict(long).time > 1e7


def test_slowing_growth_is_not_called_divergence():
    """||θ|| → 4 like t^-0.3: it grows for decades, but its increments shrink geometrically."""
    t = times(1e6)
    trace = make_trace(t, 1e-3 * (1 + t) ** -0.6 + 0.1, 4 - 3 * (1 + t) ** -0.3, 1e-2 * (1 + t) ** -0.8)
    finding = Divergence().assess(trace)
    assert finding.label == "undecided" and "slowing" in finding.reason


def test_transient_acceleration_is_not_yet_divergence():
    """||θ|| = 3 + 0.1·t^0.8 up to t = 100: increments grow fast, ||θ|| itself barely (the fitting phase)."""
    t = times(1e2)
    trace = make_trace(t, 1 / (1 + t), 3 + 0.1 * t**0.8, 1 / (1 + t))
    finding = Divergence().assess(trace)
    assert finding.label == "undecided" and "transient" in finding.reason


def test_divergence_stops_a_member_only_once_decided():
    detector = Divergence()
    assert detector.stop(sad_toy(1e5)) and not detector.stop(sad_toy(3.0))
    assert not Divergence(terminal=False).stop(sad_toy(1e5))


# Convergence ----------------------------------------------------------------------------------------------

def test_exponential_convergence_to_zero_loss():
    finding = CriticalPoint().assess(exponential(1e3))
    assert finding.label == "converged" and finding.evidence["kind"] == "zero-loss minimum"
    assert finding.limit_loss == 0.0 and 5 < finding.time < 50
    assert finding.evidence["path_length"] == pytest.approx(np.sqrt(2), rel=0.05)
    assert verdict(exponential(1e3)).label == "converged"


def test_positive_limit_needs_the_hessian_or_a_longer_confirmation():
    """L* = 0.3: without a probe the kind is unknown, so it must hold for a decade after settling."""
    early = CriticalPoint().assess(exponential(30, L_star=0.3))
    assert early.label == "undecided" and "may still leave" in early.reason
    late = CriticalPoint().assess(exponential(1e3, L_star=0.3))
    assert late.label == "converged" and late.limit_loss == pytest.approx(0.3)


class HessianStub:
    """A landscape probe whose Hessian is fixed: a strict saddle or a minimum."""

    def __init__(self, eigenvalues):
        self.H = np.diag(eigenvalues)

    def hessian(self, theta):
        return self.H


def test_hessian_tells_a_local_minimum_from_a_saddle():
    minimum = CriticalPoint().assess(exponential(30, L_star=0.3, probe=HessianStub([1e-3, 2.0])))
    assert minimum.label == "converged" and minimum.evidence["kind"] == "local minimum"
    saddle = CriticalPoint().assess(exponential(30, L_star=0.3, probe=HessianStub([-1.0, 2.0])))
    assert saddle.label == "undecided" and saddle.evidence["kind"] == "saddle"
    assert saddle.evidence["lambda_min"] == -1.0
    nan = CriticalPoint().assess(exponential(30, L_star=0.3, probe=HessianStub([np.nan, 2.0])))
    assert nan.label == "undecided" and "not finite" in nan.evidence["kind"]


def test_saddle_passage_is_not_convergence_until_the_flow_settles_for_good():
    in_plateau = saddle_passage(25.0)
    assert verdict(in_plateau).label == "undecided"
    with_saddle_hessian = saddle_passage(25.0, probe=HessianStub([-0.8, 1.0]))
    assert verdict(with_saddle_hessian, (NonFinite, CriticalPoint, Divergence)).label == "undecided"
    after = CriticalPoint().assess(saddle_passage(1e3))
    assert after.label == "converged" and after.time > 45
    assert after.evidence["kind"] == "zero-loss minimum"


def test_slow_gradient_decay_is_never_converged():
    assert CriticalPoint().assess(sad_toy(1e7)).label == "undecided"
    assert "too slow for a finite path" in CriticalPoint().assess(logistic_like(1e7)).reason
    assert CriticalPoint().assess(plateau_then_growth(1e5)).label == "undecided"


def test_critical_point_stop_follows_its_verdict():
    assert CriticalPoint().stop(exponential(1e3))
    assert not CriticalPoint().stop(sad_toy(1e5))
    assert not CriticalPoint(terminal=False).stop(exponential(1e3))


# Directional convergence ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def separable_probe():
    net = sadbench.Network([2, 1], activation="identity", bias=True)
    X = np.array([[1.0, 0.5], [2.0, -1.0], [-1.0, 0.3], [-1.5, -0.2]])
    return Probe(net, X, np.array([[1.0], [1.0], [-1.0], [-1.0]]), "logistic")


def directional_trace(probe, horizon, direction=(1.0, 0.0, 0.0)):
    """θ(t) = ln(1 + t)·u for a unit separator u: the loss, gradient and alignment are the network's own."""
    u = np.asarray(direction) / np.linalg.norm(direction)
    t = times(horizon)
    thetas = np.log1p(t)[:, None] * u
    losses, grads = probe.net.loss_and_grad(thetas, probe.X, probe.Y, loss="logistic")
    norms, gnorms = np.linalg.norm(thetas, axis=1), np.linalg.norm(grads, axis=1)
    with np.errstate(invalid="ignore"):
        align = -np.sum(thetas * grads, axis=1) / (norms * gnorms)
    return make_trace(t, losses, norms, gnorms, align=align, theta=thetas[-1], probe=probe)


def test_directional_convergence_with_alignment(separable_probe):
    finding = Directional().assess(directional_trace(separable_probe, 1e4))
    assert finding.label == "directional" and finding.limit_loss == 0.0
    assert finding.evidence["alignment"] > 0.99 and finding.evidence["min_margin"] > 0
    assert finding.evidence["normalised_margin"] == pytest.approx(1.0)  # min |x1| = 1 along u = (1, 0, 0)
    assert finding.time < 1e4
    assert verdict(directional_trace(separable_probe, 1e4)).label == "directional"


def test_directional_needs_every_point_classified(separable_probe):
    """Along (0, 1, 0) two points are misclassified: L never falls below ℓ(0)/n."""
    finding = Directional().assess(directional_trace(separable_probe, 1e4, direction=(0.0, 1.0, 0.0)))
    assert finding.label == "undecided" and "ℓ(0)/n" in finding.reason


def test_directional_applies_only_to_homogeneous_classification(separable_probe):
    trace = directional_trace(separable_probe, 10.0)
    as_mse = Probe(separable_probe.net, separable_probe.X, separable_probe.Y, "mse")
    hidden_bias = Probe(sadbench.Network([2, 3, 1], activation="identity", bias=True), separable_probe.X,
                        separable_probe.Y, "logistic")
    for probe in (None, as_mse, hidden_bias):
        assert Directional().assess(make_trace(trace.t, trace.loss, trace.norm, trace.grad_norm,
                                               probe=probe)) is None


# Chatterjee's certificate ---------------------------------------------------------------------------------

class Quadratic:
    """L(θ) = ½||θ − c||² + L_min for one θ (P,) or a batch (M, P): ||∇L||²/L = 2 everywhere when L_min = 0."""

    def __init__(self, c, L_min):
        self.c, self.L_min = np.asarray(c, float), L_min

    def loss_and_grad(self, theta):
        grad = np.asarray(theta, float) - self.c
        return 0.5 * np.sum(grad**2, axis=-1) + self.L_min, grad


def quadratic_flow(probe, theta0, horizon):
    """The exact flow θ(t) = c + e^(−t)(θ0 − c)."""
    t = times(horizon)
    thetas = probe.c + np.exp(-t)[:, None] * (theta0 - probe.c)
    losses, grads = probe.loss_and_grad(thetas)
    return make_trace(t, losses, np.linalg.norm(thetas, axis=1), np.linalg.norm(grads, axis=1),
                      theta=thetas[-1], theta0=theta0, probe=probe)


def test_chatterjee_certifies_a_zero_loss_quadratic():
    probe = Quadratic([1.0, -2.0, 0.5], 0.0)
    finding = Chatterjee().assess(quadratic_flow(probe, np.array([3.0, 0.0, 0.0]), 100.0))
    assert finding.label == "converged" and finding.evidence["holds"]
    assert finding.evidence["alpha_hat"] == pytest.approx(2.0)
    assert finding.evidence["lhs"] < finding.evidence["rhs"] and finding.evidence["inside"]
    assert "estimate" in finding.evidence["estimate"] or "upper bound" in finding.evidence["estimate"]


def test_chatterjee_refuses_a_positive_minimum():
    probe = Quadratic([1.0, -2.0, 0.5], 1.0)
    finding = Chatterjee().assess(quadratic_flow(probe, np.array([3.0, 0.0, 0.0]), 100.0))
    assert finding.label == "info" and not finding.evidence["holds"]


def test_chatterjee_waits_for_the_trajectory_to_confirm():
    probe = Quadratic([1.0, -2.0, 0.5], 0.0)
    finding = Chatterjee().assess(quadratic_flow(probe, np.array([3.0, 0.0, 0.0]), 2.0))
    assert finding.label == "info" and "not reached zero" in finding.reason


# Numerical failure --------------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["nonfinite", "dt_min"])
def test_numerical_failure_overrides_any_other_finding(status):
    trace = sad_toy(1e5)
    failed = make_trace(trace.t, trace.loss, trace.norm, trace.grad_norm, status=status)
    v = verdict(failed)
    assert v.label == "failed" and v.detector == "nonfinite" and v.evidence["status"] == status


def test_a_rising_loss_is_a_failure_not_a_blow_up():
    """An unstable explicit step: ||θ|| and L explode together. A smooth blow-up keeps L falling."""
    t = times(10.0)
    unstable = make_trace(t, 0.1 + np.exp(3 * t) * 1e-6, 1 + np.exp(3 * t) * 1e-6, np.ones_like(t),
                          status="stop_norm", theta=np.array([1e7, 0.0]))
    v = verdict(unstable)
    assert v.label == "failed" and "rose" in v.reason
    smooth = make_trace(t, 1 / (1 + t), 1 + t**3, 1 / (1 + t), status="stop_norm", theta=np.array([1e7, 0.0]))
    assert verdict(smooth).label == "diverging" and verdict(smooth).detector == "norm_threshold"


def test_a_step_budget_cut_is_reported_but_leaves_the_evidence_standing():
    trace = sad_toy(1e5)
    cut = make_trace(trace.t, trace.loss, trace.norm, trace.grad_norm, status="max_steps")
    assert NonFinite().assess(cut).label == "undecided"
    assert verdict(cut).label == "diverging"
    short = make_trace(trace.t[:20], trace.loss[:20], trace.norm[:20], trace.grad_norm[:20], status="max_steps")
    assert "budget: step budget (max_steps)" in verdict(short).reason  # not under "nonfinite"


# Helpers --------------------------------------------------------------------------------------------------

def test_series_slopes_and_path_length():
    s = Series.of(logistic_like(1e4))
    assert s.slope(s.grad, 1e2, 1e4) == pytest.approx(-1.0, abs=0.01)
    assert s.path_length() == pytest.approx(np.log1p(1e4), rel=0.02)
    assert np.all(np.diff(s.path()) >= 0)


def test_first_stable_finds_where_a_rule_keeps_holding():
    flags = [False, True, False, True, True, True]
    assert first_stable(len(flags), lambda j: flags[j]) == 3
    assert first_stable(len(flags), lambda j: not flags[j]) is None


def test_every_detector_is_registered_with_a_description():
    names = {e.spec.name: e.spec for e in sadbench.get_registry().entries("detector")}
    for name in ("nonfinite", "norm_threshold", "critical_point", "divergence", "directional", "chatterjee",
                 "r_product"):
        assert names[name].description
