"""The limit-loss estimate (sadbench.verdicts.limit), the forecast and the loss_limit detector, on flows whose
L(t) and ||∇L(t)||² = -dL/dt are known in closed form (docs/science.md §4, §6)."""


import numpy as np
import pytest

import sadbench
from sadbench.solution import Trace
from sadbench.verdicts.forecast import forecast
from sadbench.verdicts.limit import estimate_limit, integral_of_squares
from sadbench.verdicts.premises import case_premises
from sadbench.verdicts.series import Series
from sadbench_plugins.loss_limit import LossLimit

T = np.geomspace(1e-2, 1e8, 101)


def toy(t, C=0.4):
    """The SAD toy's slow manifold: L = C(24Ct)^(-2/3), so ||∇L||² = -dL/dt = (2/3)·L/t and L* = 0."""
    loss = C * (24 * C * t) ** (-2.0 / 3.0)
    return loss, np.sqrt(2.0 / 3.0 * loss / t)


def test_integral_of_squares_is_exact_for_power_laws():
    t = np.geomspace(1.0, 1e4, 9)
    grad = 3.0 * t**-0.8  # ||∇L||² = 9 t^-1.6
    exact = 9.0 / 0.6 * (t[:-1] ** -0.6 - t[1:] ** -0.6)
    np.testing.assert_allclose(integral_of_squares(t, grad), exact, rtol=1e-12)


def test_toy_asymptotics_extrapolate_to_zero():
    loss, grad = toy(T)
    estimate = estimate_limit(T, loss, grad)
    assert estimate.finite and estimate.decay == pytest.approx(5.0 / 3.0, rel=1e-9)
    assert abs(estimate.value) <= 1e-9 * loss[-1] and estimate.error <= 1e-6 * loss[-1]
    assert estimate.lo == 0.0 and estimate.hi <= 1e-6 * loss[-1]


@pytest.mark.parametrize("L_star", [0.0, 0.3])
def test_exponential_convergence_gives_the_limit(L_star):
    t = np.geomspace(1e-2, 30.0, 60)
    mu, A = 0.7, 2.0
    loss = L_star + A * np.exp(-2 * mu * t)
    grad = np.sqrt(2 * mu * A * np.exp(-2 * mu * t))
    estimate = estimate_limit(t, loss, grad)
    assert estimate.finite and abs(estimate.value - L_star) <= 1e-3 * (loss[-1] - L_star) + 1e-15
    assert estimate.lo <= L_star + 1e-15 <= estimate.hi + 1e-15


def test_power_law_to_a_positive_limit():
    loss = 0.05 + 2.0 * T**-0.5  # ||∇L||² = t^-1.5
    estimate = estimate_limit(T, loss, T**-0.75)
    assert estimate.value == pytest.approx(0.05, rel=1e-6) and estimate.lo > 0.9 * 0.05


def test_a_tail_that_does_not_converge_only_bounds_the_limit():
    """||∇L||² = t^-0.8 over the saved decades (a transient: L = 100 − 5·t^0.2 cannot go on for ever)."""
    t = np.geomspace(1e-2, 1e4, 61)
    loss = 100.0 - 5.0 * t**0.2
    estimate = estimate_limit(t, loss, t**-0.4)
    assert not estimate.finite and (estimate.lo, estimate.hi) == (0.0, loss[-1])


def test_forecast_fits_the_laws_and_the_horizon_of_a_finite_path():
    t = np.geomspace(1.0, 1e6, 61)
    grad = 2.0 * t**-1.5
    loss = 8.0 / 2.0 * t**-2.0  # -dL/dt = 4 t^-3
    norm = 3.0 + 0.25 * np.log(t)
    s = Series(t, loss, norm, grad, np.ones_like(t), np.ones_like(t), loss[0], grad[0])
    f = forecast(s, estimate_limit(t, loss, grad), path_tol=1e-6)
    assert f["laws"]["norm"]["law"] == "a + b·ln t" and f["laws"]["norm"]["b"] == pytest.approx(0.25)
    assert f["laws"]["grad_norm"]["a"] == pytest.approx(1.5) and f["laws"]["excess_loss"]["a"] == pytest.approx(2.0)
    # the path still to go, t·||∇L||/(p − 1) = 4 t^-0.5, reaches 1e-6·||θ|| (||θ|| ≈ 6.45) at t = (4/6.45e-6)²
    tol = 1e-6 * norm[-1]
    assert f["horizons"]["finite_path"] == pytest.approx((4.0 / tol) ** 2, rel=1e-6)
    assert [h["label"] for h in f["hypotheses"]] == ["diverging", "converged"]


def sad_premises():
    """Real premises of a SAD setup: tanh 1-4-1 on x² at 32 points (P = 13)."""
    x = np.linspace(-1, 1, 32)[:, None]
    return case_premises(sadbench.Network([1, 4, 1], "tanh"), x, x**2, sadbench.get_registry().get("loss", "mse"))


class Stub:
    def __init__(self, premises):
        self.premises = premises


def trace_of(t, loss, grad, floor=0.0, probe=None):
    n = len(t)
    return Trace(t=t, loss=loss + floor, norm=1.0 + 0.1 * np.log1p(t), grad_norm=grad, align=np.ones(n),
                 dir_cos=np.ones(n), n_grad=np.arange(n, dtype=float), status="success", t_final=float(t[-1]),
                 theta=np.ones(2), grad=np.zeros(2), probe=probe, floor=floor)


@pytest.mark.parametrize("floor", [0.0, 0.01])
def test_loss_limit_decides_divergence_only_under_a_premise(floor):
    premises = sad_premises()
    t = np.concatenate([[0.0], T])
    loss = 0.5 / (1.0 + t)  # L − floor → 0 like 1/t, ||∇L||² = 0.5/(1 + t)²
    grad = np.sqrt(0.5) / (1.0 + t)
    finding = LossLimit().assess(trace_of(t, loss, grad, floor, Stub(premises)))
    assert finding.label == "diverging" and finding.limit_loss == 0.0
    assert "Thm 3.4" in finding.reason
    doubtful = case_premises(sadbench.Network([1, 16, 1], "tanh"), np.linspace(-1, 1, 32)[:, None],
                             np.linspace(-1, 1, 32)[:, None] ** 2, sadbench.get_registry().get("loss", "mse"))
    assert LossLimit().assess(trace_of(t, loss, grad, floor, Stub(doubtful))).label == "info"


def test_loss_limit_is_not_fooled_by_an_exponential_approach_to_a_positive_limit():
    """L = c + A·e^(-t): at every point the fall over the last decades is steep, but the energy estimate reads
    the limit c > 0 once the tail is small."""
    t = np.concatenate([[0.0], np.geomspace(1e-2, 60.0, 70)])
    c = 1e-4
    loss = c + np.exp(-t)
    grad = np.exp(-t / 2)
    for n in range(20, len(t) + 1):
        finding = LossLimit(transient=1.0).assess(trace_of(t[:n], loss[:n], grad[:n], 0.0, Stub(sad_premises())))
        assert finding.label != "diverging", (t[n - 1], finding.reason)
