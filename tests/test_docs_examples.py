"""The examples of the documentation (docs/examples/) do what their pages say.

The plugin examples (docs/plugins.md) register together, each checked against an independent reference:
finite differences, numpy formulas, the method's order measured against a tight reference, the SAD toy's
known growth law (docs/science.md §4); each file also runs as a script, as the guide tells readers to run it.
The commands and the notebook of docs/results.md run as the page says (bash, then python, from one folder),
and what they print and write is checked against the results file read with plain sqlite3.
"""

import json
import os
import runpy
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import sadbench
from sadbench.cli import build_cli
from sadbench.errors import UnknownNameError
from conftest import TESTS_DIR

EXAMPLES = TESTS_DIR.parent / "docs" / "examples"
X = np.linspace(-1, 1, 16)[:, None]


@pytest.fixture(scope="module")
def registry():
    return sadbench.get_registry(paths=[EXAMPLES])


def test_every_example_registers_with_its_source(registry):
    provided = {("activation", "isru"), ("loss", "logcosh"), ("target", "sine"), ("initialiser", "he_normal"),
                ("integrator", "heun3"), ("integrator", "angle_euler"), ("detector", "norm_slope")}
    for kind, name in provided:
        entry = next(e for e in registry.entries(kind) if e.spec.name == name)
        assert entry.source.startswith("file ") and str(EXAMPLES) in entry.source
    assert not registry.failures


def central_gradient(f, theta, h=1e-6):
    g = np.empty_like(theta)
    for i in range(theta.size):
        e = np.zeros_like(theta)
        e[i] = h
        g[i] = (f(theta + e) - f(theta - e)) / (2 * h)
    return g


def test_isru_network_gradient_and_hessian_against_finite_differences(registry):
    net = sadbench.Network([1, 3, 1], activation="isru", registry=registry)
    theta = net.init(seed=2)
    Y = X**2
    loss = lambda th: net.loss_and_grad(th, X, Y)[0]
    _, g = net.loss_and_grad(theta, X, Y)
    np.testing.assert_allclose(g, central_gradient(loss, theta), rtol=1e-6, atol=1e-9)
    grad_of = lambda th: net.loss_and_grad(th, X, Y)[1]
    H_fd = np.column_stack([central_gradient(lambda th: grad_of(th)[i], theta) for i in range(theta.size)])
    np.testing.assert_allclose(net.hessian(theta, X, Y), H_fd, rtol=1e-5, atol=1e-7)


def test_logcosh_loss_against_numpy(registry):
    net = sadbench.Network([1, 4, 1], activation="tanh", registry=registry)
    theta = net.init(seed=1)
    Y = np.sin(3 * X) + 30 * (X > 0.9)  # residuals far out too, where log cosh must not overflow
    L, g = net.loss_and_grad(theta, X, Y, loss="logcosh")
    r = net.forward(theta, X) - Y
    assert L == pytest.approx(np.mean(np.abs(r) + np.log1p(np.exp(-2 * np.abs(r))) - np.log(2)), rel=1e-13)
    assert L == pytest.approx(np.mean(np.log(np.cosh(r))), rel=1e-12)
    reference = central_gradient(lambda th: net.loss_and_grad(th, X, Y, loss="logcosh")[0], theta)
    np.testing.assert_allclose(g, reference, rtol=1e-6, atol=1e-9)


def test_sine_target_values_and_parameter_check(registry):
    target = registry.get("target", "sine")
    X_grid, Y_grid = target(seed=0, n=9, frequency=2.0, sampling="grid")
    np.testing.assert_array_equal(X_grid[:, 0], np.linspace(-1, 1, 9))
    np.testing.assert_allclose(Y_grid, np.sin(2 * np.pi * X_grid), rtol=0, atol=1e-15)
    X_uni, _ = target(seed=3, n=500)
    assert X_uni.shape == (500, 1) and -1 <= X_uni.min() and X_uni.max() <= 1 and np.unique(X_uni).size == 500
    with pytest.raises(UnknownNameError, match="parameter 'freq' of target 'sine'"):
        target(seed=0, freq=2.0)


def test_he_normal_statistics_and_layout(registry):
    net = sadbench.Network([2, 200, 300, 1], activation="tanh", registry=registry)
    theta = net.init(seed=0, scheme="he_normal", bias=0.25)
    assert theta.shape == (net.num_params,)
    for (W, b), layer in zip(net.unflatten(theta), net.layers):
        np.testing.assert_array_equal(b, 0.25)
        if W.size > 10_000:  # the standard error of a sample std is std/sqrt(2N): well under 2% here
            assert W.std() == pytest.approx(np.sqrt(2 / layer.fan_in), rel=0.02)


def test_heun3_measured_order_is_three(registry):
    net = sadbench.Network([1, 4, 1], activation="tanh", registry=registry)
    theta0 = net.init(seed=0)
    Y = X**2
    exact = sadbench.integrate(net, theta0, X, Y, t_end=2.0, rtol=1e-13, atol=1e-13, detectors=None).theta
    errors = [np.linalg.norm(sadbench.integrate(net, theta0, X, Y, integrator="heun3", dt=dt, t_end=2.0,
                                                detectors=None).theta - exact) for dt in (0.2, 0.1, 0.05)]
    slopes = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    assert np.all((2.7 < slopes) & (slopes < 3.3)), slopes


def test_angle_euler_follows_the_flow_with_growing_steps(registry):
    net = sadbench.Network([1, 8, 1], activation="tanh", registry=registry)
    theta0 = net.init(seed=0)
    Y = X**2
    times = np.array([1.0, 10.0, 100.0])
    ref = sadbench.integrate(net, theta0, X, Y, t_end=100.0, save=times, rtol=1e-12, atol=1e-12, detectors=None)
    sol = sadbench.integrate(net, theta0, X, Y, integrator="angle_euler", t_end=100.0, save=times, detectors=None)
    assert sol.status == "success" and sol.t_final == 100.0
    np.testing.assert_allclose(sol.loss, ref.loss, rtol=0.01)  # first order at a loose angle tolerance: ~2e-3
    # The steps grow as the gradient's direction settles: a mean accepted step above 0.05 (measured: 0.15).
    assert sol.n_steps < 2000


def test_norm_slope_reads_the_sad_toys_growth_law(registry):
    # The two-parameter SAD toy v·tanh(w x) on (1, 1), (2, 2): ||θ|| grows like t^(1/6) (docs/science.md §4).
    net = sadbench.Network([1, 1, 1], activation="tanh", bias=False, registry=registry)
    data = np.array([[1.0], [2.0]])
    sol = sadbench.integrate(net, np.array([1.0, 1.0]), data, data, integrator="bdf", t_end=1e6, rtol=1e-8,
                             atol=1e-10, detectors=["norm_slope"])
    (finding,) = sol.findings
    assert finding.label == "info" and sol.verdict.label == "undecided"
    assert finding.evidence["slope"] == pytest.approx(1 / 6, abs=0.02)
    keep = sol.t >= sol.t[-1] / 10
    assert finding.evidence["slope"] == pytest.approx(np.polyfit(np.log(sol.t[keep]), np.log(sol.norm[keep]), 1)[0])


def test_tableau_command(registry):
    cli = build_cli(registry)
    result = CliRunner().invoke(cli, ["tableau", "rk4"])
    assert result.exit_code == 0, result.output
    assert "rk4: order 4, 4 stages" in result.output and "0.166667" in result.output
    refused = CliRunner().invoke(cli, ["tableau", "bdf"])
    assert refused.exit_code == 1 and "error: integrator 'bdf' is not given by a Butcher tableau" in refused.output


@pytest.mark.parametrize("name, argv, expected", [
    ("activation_isru.py", [], "verdict:"),
    ("loss_logcosh.py", [], "finite difference"),
    ("target_sine.py", [], "0.70710678"),
    ("initialiser_he.py", [], "expected 0.1768"),
    ("integrator_heun3.py", [], "dt = 0.05"),
    ("integrator_angle_euler.py", [], "success: L(1e3)"),
    ("detector_norm_slope.py", [], "norm_slope"),
    ("command_tableau.py", ["tableau", "heun"], "heun: order 2, 2 stages"),
])
def test_example_runs_as_a_script(name, argv, expected, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", [name, *argv])
    try:
        runpy.run_path(str(EXAMPLES / name), run_name="__main__")
    except SystemExit as exc:  # click's main() exits
        assert exc.code in (0, None)
    assert expected in capsys.readouterr().out


@pytest.fixture(scope="module")
def results_page(tmp_path_factory):
    """A folder where docs/examples/results/commands.sh and then notebook.py ran as the page says,
    with what each printed."""
    root = tmp_path_factory.mktemp("results_page")
    (root / "docs" / "examples" / "results").mkdir(parents=True)
    shutil.copy(EXAMPLES / "results" / "results_demo.yaml", root / "docs" / "examples" / "results")
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "sadbench").exists(), "the sadbench command is installed beside this Python"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    outputs = []
    page = EXAMPLES / "results"
    for argv in (["bash", str(page / "commands.sh")], [sys.executable, str(page / "notebook.py")]):
        done = subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outputs.append(done.stdout)
    return root, *outputs


def _sql(path, query, *args):
    connection = sqlite3.connect(path)
    try:
        return connection.execute(query, args).fetchall()
    finally:
        connection.close()


def test_results_page_frames_match_the_stored_file(results_page):
    root, _, _ = results_page
    path = root / "results" / "results_demo.sqlite"
    res = sadbench.open_results(path)
    cases, members, series = res.cases(), res.members(), res.series()
    assert len(cases) == _sql(path, "SELECT COUNT(*) FROM cases")[0][0] == 5  # 2 × 2 grid + the --set horizon case
    assert len(members) == _sql(path, "SELECT COUNT(*) FROM members")[0][0] == 15
    assert len(series) == _sql(path, "SELECT COUNT(*) FROM series")[0][0]
    stored = dict(_sql(path, "SELECT verdict, COUNT(*) FROM members GROUP BY verdict"))
    assert members["verdict"].value_counts().to_dict() == stored
    # The known outcomes (docs/science.md §4): the reachable toy converges at a tight tolerance, and no
    # verdict contradicts its case's expect.
    tight = members[(members["integrator.rtol"] == 1e-10) & members["label"].str.startswith("reachable")]
    assert (tight["verdict"] == "converged").all() and len(tight) == 3
    assert cases["n_wrong"].sum() == 0
    # The --set horizon=1e4 case continued the stored 1e3 run instead of starting over, as the page says.
    longer = cases[cases["horizon"] == 1e4]
    assert longer["label"].tolist() == ["reachable toy integrator.rtol=1e-06"]
    short = cases[(cases["horizon"] == 1e3) & (cases["label"] == longer["label"].iloc[0])]
    assert _sql(path, "SELECT continued_from FROM states WHERE case_id = ?", longer["case_id"].iloc[0]) == [
        (short["case_id"].iloc[0],)]
    runs = res.runs()
    assert len(runs) == 2 and runs["command"].iloc[1].startswith("sadbench run docs/examples/results/results_demo.yaml -k")


def test_results_page_notebook_output_and_figure(results_page):
    root, _, notebook = results_page
    path = root / "results" / "results_demo.sqlite"
    (flows,) = _sql(path, "SELECT COUNT(*), COUNT(DISTINCT s.case_id || '/' || s.seed) FROM series s JOIN cases c "
                          "USING (case_id) WHERE json_extract(c.params, '$.integrator.rtol') = 1e-10 "
                          "AND json_extract(c.params, '$.horizon') = 1000")
    assert f"{flows[0]} saved times of {flows[1]} flows -> results/results_demo.png" in notebook
    assert flows[1] == 6
    assert (root / "results" / "results_demo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "converged" in notebook and "critical_point" in notebook  # the reasons of the undecided members


def test_results_page_compare_and_exports(results_page):
    root, commands, _ = results_page
    assert "0 regressions, 0 improvements, 0 verdict changes, 0 cases with changed numbers" in commands
    assert "only in A: reachable toy integrator.rtol=1e-06" in commands
    assert commands.count(" 1/3") == 4  # every case of B timed 3 times, of A once
    res = sadbench.open_results(root / "results" / "results_demo.sqlite")
    pd.testing.assert_frame_equal(pd.read_parquet(root / "results" / "series.parquet"), res.series())
    cases = pd.read_csv(root / "results" / "cases.csv")
    assert cases["case_id"].tolist() == res.cases()["case_id"].tolist()
    np.testing.assert_array_equal(cases["loss_final"], res.cases()["loss_final"])  # full precision
    lines = (root / "results" / "members.jsonl").read_text().splitlines()
    members = res.members()
    assert len(lines) == len(members) and list(json.loads(lines[0])) == list(members.columns)
    assert lines[0] in commands  # head -n 1 printed it


def test_the_readme_python_example_runs_and_its_verdict_is_the_one_it_describes():
    """README.md's Python API block, run as it stands: the flow it integrates is decided diverging on the
    grounds the text after it gives (Thm 3.4's premises)."""
    readme = (TESTS_DIR.parent / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace = {}
    exec(compile(block, "README.md", "exec"), namespace)
    verdict = namespace["sol"].verdict
    assert verdict.label == "diverging" and "Thm 3.4" in verdict.reason
    assert 1e7 <= verdict.time <= 1e8  # "at t ≈ 6e7"
