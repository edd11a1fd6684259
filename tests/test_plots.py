"""Plots of a Solution and of a results file: one PNG and one SVG per figure, one figure per group."""

from pathlib import Path

import numpy as np
import pytest

import sadbench
from sadbench.report.plots import PANELS, _columns, plot_results, plot_solution
from sadbench.suites.runner import run_suite
from sadbench.suites.suite import load_suite

SUITES = Path(__file__).resolve().parent / "suites"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def check_figure_files(paths):
    assert sorted(p.suffix for p in paths) == [".png", ".svg"]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) if path.suffix == ".png" else b"<svg" in data[:2000]


@pytest.fixture(scope="module")
def toy_solution():
    net = sadbench.Network([1, 1, 1], activation="tanh", bias=False)
    X = np.array([[1.0], [2.0]])
    theta0 = net.init(seed=0, scheme="normal", ensemble=3)
    return sadbench.integrate(net, theta0, X, X.copy(), t_end=100.0, rtol=1e-8, atol=1e-10,
                              detectors=["nonfinite", "critical_point", "divergence"])


def test_plot_solution_writes_png_and_svg(toy_solution, tmp_path):
    paths = plot_solution(toy_solution, tmp_path / "sub" / "toy.png", title="SAD toy")
    assert {p.name for p in paths} == {"toy.png", "toy.svg"}
    check_figure_files(paths)


def test_columns_are_the_plotted_quantities(toy_solution):
    trace = toy_solution.member_trace(0)
    cols = _columns({name: getattr(trace, name) for name in ("t", "loss", "norm", "grad_norm", "align")})
    assert np.all(cols["t"] > 0) and len(cols["t"]) == np.sum(trace.t > 0)
    np.testing.assert_allclose(cols["R"], (trace.norm * trace.grad_norm)[trace.t > 0])
    np.testing.assert_allclose(cols["misalignment"], (1 - trace.align)[trace.t > 0])
    assert [name for name, _, _ in PANELS] == ["loss", "norm", "grad_norm", "R", "misalignment"]


def test_plot_results_makes_one_figure_per_group(tmp_path):
    report = run_suite(load_suite(SUITES / "tiny.yaml"), tmp_path / "results")
    by_label = plot_results(report.path, tmp_path / "plots", group_by="label")
    assert sorted(p.name for p in by_label) == ["label=line.png", "label=line.svg", "label=toy.png", "label=toy.svg"]
    for stem in ("label=line", "label=toy"):
        check_figure_files([tmp_path / "plots" / f"{stem}{suffix}" for suffix in (".png", ".svg")])
    by_activation = plot_results(report.path, tmp_path / "plots", group_by="network.activation")
    assert sorted(p.name for p in by_activation) == ["network.activation=tanh.png", "network.activation=tanh.svg"]
