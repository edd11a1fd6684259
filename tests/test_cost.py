"""The cost model (sadbench.cost, docs/cost-model.md) against a flow measured here: its count of gradient
evaluations within 1.5× of the flow's own, its CPU seconds within 3× (CPU time of this process, so other
jobs on the machine matter little; the factor covers BLAS, cache and clock differences between machines)."""

import time
from pathlib import Path

import numpy as np
import pytest

import sadbench
from sadbench import cost
from sadbench.suites.suite import load_suite

SUITE = """\
name: cost_check
defaults:
  network: {widths: [1, 10, 20, 10, 1], activation: gelu}
  init: {scheme: xavier_uniform, gain: 1.0, bias: 0.0}
  target: {name: polynomial, preset: sad1d, n: 2000, sampling: uniform}
  integrator: {name: auto, rtol: 1.0e-6, atol: 1.0e-8}
  horizon: 1.0e4
  seeds: [0]
cases:
  - label: SAD 1D
  - label: explicit
    integrator: {name: dopri5}
"""


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    path = Path(tmp_path_factory.mktemp("cost")) / "cost_check.yaml"
    path.write_text(SUITE)
    return load_suite(path)


def test_the_gradient_model_matches_the_network_arithmetic():
    widths = [2, 20, 40, 20, 1]
    assert cost.parameters(widths) == sadbench.Network(widths, activation="gelu").num_params == 1741
    assert cost.multiply_adds(widths) == 2 * 20 + 20 * 40 + 40 * 20 + 20
    assert cost.gradient_seconds(widths, 2000) == pytest.approx(2 * cost.gradient_seconds(widths, 1000))


def test_stiff_work_grows_with_the_horizon_and_the_tolerance():
    counts = [cost.stiff_gradients(461, 10.0 ** k) for k in range(10)]
    assert all(a < b for a, b in zip(counts, counts[1:]))
    growth = (counts[7] - counts[6]) / (counts[6] - counts[5])  # past the table: that decade's growth again
    assert counts[9] - counts[8] == pytest.approx(growth * (counts[8] - counts[7]))
    assert counts[8] - counts[7] == pytest.approx(growth * (counts[7] - counts[6]))
    assert cost.stiff_gradients(461, 1e4, rtol=1e-8) > cost.stiff_gradients(461, 1e4)


def test_prediction_against_a_measured_flow(suite):
    stiff, explicit = suite.cases
    assert cost.estimate_case(explicit, suite.registry) is None
    estimate = cost.estimate_suite(suite, cores=1)
    assert estimate.runs == 1 and estimate.not_estimated == ("explicit",)

    params = stiff.params
    net = sadbench.Network(params["network"]["widths"], activation="gelu")
    X, Y = sadbench.get_registry().get("target", "polynomial")(seed=0, preset="sad1d", n=2000, sampling="uniform")
    theta0 = net.init(seed=0, scheme="xavier_uniform", gain=1.0, bias=0.0)
    options = dict(integrator="auto", rtol=1e-6, atol=1e-8, detectors=None)
    sadbench.integrate(net, theta0, X, Y, t_end=1e-2, **options)  # compiled before the clock starts
    start = time.process_time()
    sol = sadbench.integrate(net, theta0, X, Y, t_end=1e4, **options)
    seconds = time.process_time() - start
    stats = sol.integrator_stats["bdf"]
    gradients = int(np.sum(sol.n_grad)) + stats["hessian_vector_products"]
    predicted = cost.stiff_gradients(net.num_params, 1e4)
    assert 1 / 1.5 < predicted / gradients < 1.5
    assert 1 / 3 < estimate.seconds / seconds < 3
