"""``until="decided"`` (sadbench.verdicts.decide): members stop on their own once decided, the Solution says why
each stopped, an undecided verdict forecasts, label-noise twins get the same verdict, and suites ask for it
with ``horizon: decided``."""

import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

import sadbench
from sadbench.cli import build_cli
from sadbench.solution import Probe
from sadbench.suites.suite import SuiteError, load_suite
from sadbench.verdicts.decide import STOP_REASONS, gradient_noise

REGISTRY = sadbench.get_registry()
OPTIONS = dict(integrator="bdf", rtol=1e-8, atol=1e-10)


@pytest.fixture(scope="module")
def x_squared():
    """tanh 1-8-1 on y = x² at 32 grid points (P = 25 < n): Thm 3.4's premises hold, the flows diverge."""
    X, Y = REGISTRY.get("target", "polynomial")(seed=0, expr="x^2", n=32, sampling="grid")
    net = sadbench.Network([1, 8, 1], "tanh")
    return net, X, Y, net.init(seed=0, ensemble=3)


@pytest.fixture(scope="module")
def decided(x_squared):
    net, X, Y, thetas = x_squared
    return sadbench.integrate(net, thetas, X, Y, until="decided", **OPTIONS)


def test_members_stop_on_their_own_once_decided(decided, x_squared):
    sol = decided
    assert list(sol.stop_reason) == ["decided"] * 3 and list(sol.status) == ["detector"] * 3
    assert len(set(sol.t_final)) > 1  # each member stopped at its own decade
    for e, verdict in enumerate(sol.verdict):
        assert verdict.label == "diverging" and verdict.stopped == STOP_REASONS["decided"]
        assert verdict.time <= sol.t_final[e]
        assert any(g.get("premise") == "sad" for g in verdict.grounds)
        assert verdict.premises["sad"]["holds"] == "yes"
    # a member stopped at its decision is the uninterrupted run up to there
    net, X, Y, thetas = x_squared
    e = int(np.argmin(sol.t_final))
    alone = sadbench.integrate(net, thetas[e], X, Y, t_end=float(sol.t_final[e]), detectors=None, **OPTIONS)
    np.testing.assert_allclose(alone.theta, sol.theta[e], rtol=1e-12, atol=1e-14)


def test_a_horizon_reached_first_gives_an_undecided_verdict_with_a_forecast(x_squared):
    net, X, Y, thetas = x_squared
    sol = sadbench.integrate(net, thetas[0], X, Y, until="decided", t_end=300.0, **OPTIONS)
    verdict = sol.verdict
    assert sol.stop_reason == "horizon" and verdict.label == "undecided"
    assert verdict.stopped == STOP_REASONS["horizon"]
    forecast = verdict.forecast
    assert set(forecast["laws"]) == {"norm", "excess_loss", "grad_norm"}
    assert [h["label"] for h in forecast["hypotheses"]] == ["diverging", "converged"]
    assert 0.0 <= verdict.limit_loss <= sol.loss_final  # the estimate, bounded by the last L


def test_a_wall_budget_ends_the_search(x_squared):
    net, X, Y, thetas = x_squared
    sol = sadbench.integrate(net, thetas[0], X, Y, until="decided", max_wall=1e-3, **OPTIONS)
    assert sol.stop_reason == "wall_time" and sol.verdict.label == "undecided"
    assert sol.t_final < 1e16


def test_resume_until_decided_continues_a_shorter_run(x_squared):
    """The verdict is checked once per decade of saves, so where the continued run's decades start can move a
    bursty flow's decision by a decade; the verdicts and the shared part of the series agree."""
    net, X, Y, thetas = x_squared
    short = sadbench.integrate(net, thetas, X, Y, t_end=100.0, **OPTIONS)
    longer = short.resume(until="decided")
    assert list(longer.stop_reason) == ["decided"] * 3
    assert [v.label for v in longer.verdict] == ["diverging"] * 3
    np.testing.assert_array_equal(longer.loss[:, : short.t.size], short.loss)


def test_label_noise_twins_get_the_same_verdict_and_a_shifted_limit():
    """Every point twice with labels y ± δ: the same trajectory, L + δ², the same verdict at the same time."""
    x, y = REGISTRY.get("target", "polynomial")(seed=0, expr="x^2", n=32, sampling="grid")
    net = sadbench.Network([1, 4, 1], "tanh")
    theta = net.init(seed=1)
    delta = 0.1
    original = sadbench.integrate(net, theta, x, y, until="decided", **OPTIONS)
    twin = sadbench.integrate(net, theta, np.concatenate([x, x]), np.concatenate([y + delta, y - delta]),
                              until="decided", **OPTIONS)
    assert original.verdict.label == twin.verdict.label == "diverging"
    assert original.verdict.time == twin.verdict.time and original.t_final == twin.t_final
    assert twin.verdict.limit_loss == pytest.approx(original.verdict.limit_loss + delta**2, abs=1e-12)
    # the same flow to the integration tolerance (the gradients differ in rounding, so do the steps)
    np.testing.assert_allclose(twin.loss, original.loss + delta**2, rtol=1e-6, atol=1e-13)


def test_a_flow_at_rounding_level_stops_there():
    """An odd tanh 1-4-1 network on even data: it creeps towards N = 0 in bursts too slow to settle before
    ||∇L|| reaches its float64 rounding noise, where the search stops and says so."""
    X, Y = REGISTRY.get("target", "polynomial")(seed=0, expr="x^2 + 1", n=16, sampling="grid")
    net = sadbench.Network([1, 4, 1], "tanh", bias=False)
    sol = sadbench.integrate(net, net.init(seed=1), X, Y, until="decided", **OPTIONS)
    assert sol.stop_reason == "rounding" and sol.verdict.label == "undecided"
    noise = gradient_noise(Probe(net, X, Y, "mse"), sol.theta) * np.sqrt(net.num_params)
    assert np.linalg.norm(sol.grad) <= 10 * noise
    assert sol.t_final < 1e16


def test_until_is_checked():
    net = sadbench.Network([1, 1, 1], "tanh", bias=False)
    with pytest.raises(sadbench.SadbenchError, match="until must be None or one of 'decided'"):
        sadbench.integrate(net, np.ones(2), np.ones((1, 1)), np.ones((1, 1)), until="done")


SUITE = """
    defaults:
      network: {widths: [1, 1, 1], activation: tanh, bias: false}
      target: {name: points, X: [1, 2], Y: [0.9242343145200195, 1.5231883119115293]}
      init: {scheme: normal}
      integrator: {name: bdf}
      horizon: decided
      seeds: [0, 1]
      expect: converged
    cases:
      - {label: reachable}
      - {label: capped, t_max: 1.0e5}
"""


def write(tmp_path, text):
    path = tmp_path / "suite.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_horizon_decided_resolves_to_t_max_and_until(tmp_path):
    suite = load_suite(write(tmp_path, SUITE))
    assert [(c.params["horizon"], c.params["until"]) for c in suite.cases] == [(1e16, "decided"), (1e5, "decided")]
    assert "t_max" not in suite.cases[1].params


@pytest.mark.parametrize("bad, message", [
    ("horizon: 10.0\n      t_max: 1.0e5", "t_max: goes with horizon: decided"),
    ("horizon: sometime", "horizon: expected a positive number or 'decided', got 'sometime'"),
    ("horizon: decided\n      t_max: -1", "t_max"),
])
def test_horizon_and_t_max_errors_name_the_key(tmp_path, bad, message):
    text = SUITE.replace("horizon: decided", bad)
    with pytest.raises(SuiteError, match=message):
        load_suite(write(tmp_path, text))


def test_cli_prints_the_decision_times_and_the_summary_line(tmp_path):
    path = write(tmp_path, SUITE)
    result = CliRunner().invoke(build_cli(), ["run", str(path), "--results", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[-4:] == ["verdict", "decided", "at", "t"]
    assert all(row.split()[-2] == "converged" and float(row.split()[-1]) > 0 for row in lines[2:6])
    assert any(line.startswith("decided 4/4, wrong 0") for line in lines)


def test_cli_validate_shows_premises_and_warns_about_unsupported_expectations(tmp_path):
    path = write(tmp_path, """
        defaults:
          network: {widths: [1, 16, 1], activation: tanh}
          target: {name: polynomial, expr: "x^2", n: 32, sampling: grid}
          horizon: decided
          expect: diverging
        cases:
          - {label: wide}
          - {label: narrow, network: {widths: [1, 4, 1]}}
    """)
    result = CliRunner().invoke(build_cli(), ["validate", str(path)])
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:]}
    assert rows["case"][:3] == ["case", "data", "floor"]
    assert rows["wide"][1:3] == ["0", "doubtful"] and rows["narrow"][1:3] == ["0", "yes"]
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'wide'" in warnings[0] and "P = 49" in warnings[0]
