"""Long-horizon control: resumable state, budgets that end with a status, the detectors' stop hook, step
sizes that keep growing, and agreement with scipy over many decades.

The resume tests compare against one uninterrupted run: with the same save times the numbers must be
identical, since the complete state of every member (θ, t, step size, controller, method work, anchors) is
carried over.
"""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.integrate import solve_ivp
from test_stiff import flow_for_scipy

import sadbench
from sadbench.cli import build_cli
from sadbench.integrate import resume
from sadbench.suites.runner import plan
from sadbench.solvers.schedule import save_times
from sadbench.suites.store import open_results
from sadbench.suites.suite import load_suite

LONG_HORIZON_SUITE = Path(__file__).resolve().parent.parent / "suites" / "long_horizon.yaml"

SERIES = ("loss", "norm", "grad_norm", "align", "dir_cos", "n_grad_saved", "theta", "grad", "t_final")
METHODS = ["dopri5", "bdf", "ros34pw2", "rkc", "auto"]
TIMES = np.geomspace(1e-2, 1e4, 31)


@pytest.fixture(scope="module")
def tanh_x2():
    """tanh 1-4-1 on y = x², 32 grid points on [−1, 1]: a SAD flow that diverges slowly while L → 0."""
    net = sadbench.Network([1, 4, 1], activation="tanh")
    X = np.linspace(-1, 1, 32)[:, None]
    return net, X, X**2, net.init(seed=0)


def assert_same_run(a, b):
    np.testing.assert_array_equal(a.t, b.t)
    for name in SERIES:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    for name in ("n_steps", "n_rejected", "n_grad", "status"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.integrator_stats == b.integrator_stats


@pytest.mark.parametrize("name", METHODS)
def test_resumed_run_equals_one_uninterrupted_run(name, tanh_x2, tmp_path):
    net, X, Y, theta0 = tanh_x2
    options = dict(integrator=name, rtol=1e-8, atol=1e-10, detectors=None)
    whole = sadbench.integrate(net, theta0, X, Y, t_end=TIMES[-1], save=TIMES, **options)
    first = sadbench.integrate(net, theta0, X, Y, t_end=10.0, save=TIMES[TIMES <= 10.0], **options)
    assert first.status == "success" and first.t_final == 10.0
    later = TIMES[TIMES > 10.0]
    assert_same_run(first.resume(TIMES[-1], save=later, detectors=None), whole)
    # ... through integrate(), and from the state saved to disk and loaded in a "new process"
    assert_same_run(sadbench.integrate(net, None, X, Y, resume=first, t_end=TIMES[-1], save=later, detectors=None),
                    whole)
    np.savez(tmp_path / "state.npz", **first.resume_state)
    with np.load(tmp_path / "state.npz") as stored:
        state = dict(stored)
    assert_same_run(resume(state, TIMES[-1], net=net, X=X, Y=Y, save=later, detectors=None), whole)


def test_log_schedule_continues_on_the_same_grid(tanh_x2):
    net, X, Y, theta0 = tanh_x2
    options = dict(integrator="bdf", rtol=1e-9, atol=1e-11, detectors=None)
    whole = sadbench.integrate(net, theta0, X, Y, t_end=1e4, **options)
    continued = sadbench.integrate(net, theta0, X, Y, t_end=1e2, **options).resume(1e4, detectors=None)
    np.testing.assert_allclose(continued.t, save_times("log", 1e4), rtol=1e-12)
    np.testing.assert_allclose(continued.loss, whole.loss, rtol=1e-6)
    np.testing.assert_allclose(continued.theta, whole.theta, rtol=1e-7)


@pytest.mark.parametrize("name", ["bdf", "auto"])
def test_wall_time_budget_ends_with_a_resumable_status(name, tanh_x2):
    net, X, Y, _ = tanh_x2
    thetas = net.init(seed=1, ensemble=2)
    options = dict(integrator=name, rtol=1e-8, atol=1e-10, detectors=None)
    stopped = sadbench.integrate(net, thetas, X, Y, t_end=1e4, max_wall=0.0, **options)
    assert list(stopped.status) == ["wall_time", "wall_time"]
    assert "max_wall" in stopped.message[0] and np.all(stopped.t_final == 0.0)
    assert_same_run(stopped.resume(detectors=None), sadbench.integrate(net, thetas, X, Y, t_end=1e4, **options))


def test_a_wall_time_stop_anywhere_resumes_exactly(tanh_x2):
    """Wherever the clock stops a run (it depends on the machine), continuing it gives the same numbers."""
    net, X, Y, theta0 = tanh_x2
    options = dict(integrator="rkc", t_end=1e4, rtol=1e-8, atol=1e-10, detectors=None)
    run = sadbench.integrate(net, theta0, X, Y, max_wall=0.05, **options)
    assert run.status in ("wall_time", "success")
    while run.status == "wall_time":
        run = run.resume(max_wall=0.05, detectors=None)
    assert_same_run(run, sadbench.integrate(net, theta0, X, Y, **options))


def test_max_steps_is_a_budget_per_call(tanh_x2):
    net, X, Y, theta0 = tanh_x2
    options = dict(integrator="bdf", t_end=1e3, rtol=1e-8, atol=1e-10, detectors=None)
    run = sadbench.integrate(net, theta0, X, Y, max_steps=60, **options)
    assert run.status == "max_steps" and run.n_steps + run.n_rejected == 60
    calls = 1
    while run.status == "max_steps":
        before = run.n_steps + run.n_rejected
        run = run.resume(max_steps=60, detectors=None)
        assert run.n_steps + run.n_rejected - before <= 60
        calls += 1
    assert run.status == "success" and calls > 2
    assert_same_run(run, sadbench.integrate(net, theta0, X, Y, **options))


class StopAfter:
    """A detector whose ``stop`` ends a member once its trace reaches ``t_stop``; it records the traces."""

    def __init__(self, t_stop):
        self.t_stop, self.seen = t_stop, []

    def events(self):
        return {}

    def assess(self, trace):
        return None

    def stop(self, trace):
        self.seen.append((trace.status, trace.t[-1], trace.t.size))
        return trace.t[-1] >= self.t_stop


def test_detector_stop_hook_ends_members_between_chunks(tanh_x2):
    net, X, Y, _ = tanh_x2
    thetas = net.init(seed=4, ensemble=2)
    detector = StopAfter(1.0)
    sol = sadbench.integrate(net, thetas, X, Y, integrator="bdf", t_end=1e4, rtol=1e-8, detectors=[detector])
    assert list(sol.status) == ["detector", "detector"]
    assert np.all((sol.t_final >= 1.0) & (sol.t_final < 10.0))  # at the end of the chunk (a decade) past t = 1
    assert all(status == "running" for status, _, _ in detector.seen)
    assert sorted({size for _, _, size in detector.seen}) == [size for _, _, size in detector.seen][::2]
    assert np.all(np.isnan(sol.loss[:, -1]))
    resumed = sol.resume(1e5, detectors=None)  # a detector's decision is final
    assert list(resumed.status) == ["detector", "detector"]
    np.testing.assert_array_equal(resumed.t_final, sol.t_final)


def test_step_sizes_grow_with_t_up_to_the_horizon(tanh_x2):
    """On the slow manifold the accuracy-limited step grows like t: nothing (dt_max, factor_max, saving)
    caps it, so a decade costs about the same number of steps at t = 1e7 as at t = 1e3."""
    net, X, Y, theta0 = tanh_x2
    sol = sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=1e8, rtol=1e-8, atol=1e-11, detectors=None)
    assert sol.status == "success"
    step = sol.resume_state["states"][0][1]
    assert step > 1e5
    steps = sol.n_grad_saved  # gradient evaluations at each saved time
    per_decade = np.diff(steps[np.isin(sol.t, [1e3, 1e4, 1e7, 1e8])])
    assert per_decade[-1] < 3 * per_decade[0]


def test_tanh_x2_to_1e8_agrees_with_scipy_lsoda(tanh_x2):
    """docs/science.md §5: LSODA with the exact Hessian at rtol 1e-11 as reference; BDF at rtol 1e-8 must agree
    to 5 significant digits in L and ||θ|| at every decade up to t = 1e8."""
    net, X, Y, theta0 = tanh_x2
    decades = 10.0 ** np.arange(-2, 9)
    fun, jac = flow_for_scipy(net, X, Y)
    ref = solve_ivp(fun, (0, 1e8), theta0, method="LSODA", t_eval=decades, rtol=1e-11, atol=1e-14, jac=jac)
    assert ref.success
    ref_loss = np.array([net.loss_and_grad(theta, X, Y)[0] for theta in ref.y.T])
    sol = sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=1e8, save=decades, rtol=1e-8, atol=1e-11,
                             detectors=None)
    np.testing.assert_allclose(sol.loss[1:], ref_loss, rtol=5e-6)
    np.testing.assert_allclose(sol.norm[1:], np.linalg.norm(ref.y, axis=0), rtol=5e-6)


def test_resume_checks_what_it_continues(tanh_x2):
    net, X, Y, theta0 = tanh_x2
    sol = sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=1.0, rtol=1e-8, detectors=None)
    assert all(isinstance(value, np.ndarray) for value in sol.resume_state.values())
    with pytest.raises(sadbench.SadbenchError, match="keeps its stored rtol"):
        sadbench.integrate(net, None, X, Y, resume=sol, t_end=10.0, rtol=1e-3)
    with pytest.raises(sadbench.SadbenchError, match="differ from the data"):
        resume(sol.resume_state, 10.0, net=net, X=X, Y=Y + 1.0)
    with pytest.raises(sadbench.SadbenchError, match="needs net, X and Y"):
        resume(sol.resume_state, 10.0)
    with pytest.raises(sadbench.SadbenchError, match="before the stored run"):
        sol.resume(0.5)
    other = sadbench.Network([1, 4, 1], activation="gelu")
    with pytest.raises(sadbench.SadbenchError, match="cannot resume"):
        resume(sol.resume_state, 10.0, net=other, X=X, Y=Y)


def test_auto_run_to_1e8_continues_to_1e9_without_starting_over(tanh_x2):
    """The issue's use: a run to t = 1e8 continued later to 1e9 equals one run to 1e9, and the continuation
    only integrates from 1e8 on (its count of gradients at 1e8 is the first run's)."""
    net, X, Y, theta0 = tanh_x2
    options = dict(integrator="auto", rtol=1e-8, atol=1e-11, detectors=None)
    first = sadbench.integrate(net, theta0, X, Y, t_end=1e8, **options)
    assert first.status == "success" and "bdf" in first.integrator_stats["switched_to"]
    continued = first.resume(1e9, detectors=None)
    assert_same_run(continued, sadbench.integrate(net, theta0, X, Y, t_end=1e9, **options))
    assert continued.n_grad_saved[continued.t == 1e8] == first.n_grad


def _suite(path, horizon):
    path.write_text(f"""
name: continued
defaults:
  network: {{widths: [1, 4, 1], activation: tanh}}
  target: {{name: polynomial, expr: "x^2", n: 32, sampling: grid}}
  integrator: {{name: auto, rtol: 1.0e-8, atol: 1.0e-11}}
  horizon: {horizon}
  detectors: null
  seeds: [0, 1]
""")
    return path


def _stored(results, suite):
    """(members, series per seed, continued_from) of the suite's one case, as stored."""
    (task,) = plan(load_suite(suite))
    with open_results(Path(results) / "continued.sqlite") as store:
        members = store.members(task.case_id)
        series = {m["seed"]: store.series(task.case_id, m["seed"]) for m in members}
        return members, series, store.continued_from(task.case_id)


def test_sadbench_run_continues_a_stored_run_when_the_horizon_grows(tmp_path):
    """`sadbench run` with the horizon raised from 1e8 to 1e9 continues the stored run (it says so), and
    stores what a run straight to 1e9 stores, including which methods ``auto`` used."""
    cli = build_cli()
    short, long = _suite(tmp_path / "short.yaml", "1.0e8"), _suite(tmp_path / "long.yaml", "1.0e9")
    assert CliRunner().invoke(cli, ["run", str(short), "--results", str(tmp_path / "a")]).exit_code == 0
    result = CliRunner().invoke(cli, ["run", str(long), "--results", str(tmp_path / "a")])
    assert result.exit_code == 0, result.output
    (first,) = plan(load_suite(short))
    assert f"continuing {first.case_id} from t = 1e+08" in result.stderr
    straight = CliRunner().invoke(cli, ["run", str(long), "--results", str(tmp_path / "b")])
    assert straight.exit_code == 0 and "continuing" not in straight.stderr
    members, series, origin = _stored(tmp_path / "a", long)
    expected_members, expected_series, no_origin = _stored(tmp_path / "b", long)
    assert (origin, no_origin) == (first.case_id, None)
    assert members == expected_members
    for seed in series:
        for name, values in series[seed].items():
            np.testing.assert_array_equal(values, expected_series[seed][name], err_msg=name)
    stats = members[0]["integrator_stats"]
    assert stats["switched_to"][0] == "bdf" and stats["steps"]["bdf"] > 0 and stats["bdf"]["jacobian_evaluations"]


def test_rerun_starts_over_instead_of_continuing(tmp_path):
    cli = build_cli()
    short, long = _suite(tmp_path / "short.yaml", "1.0e3"), _suite(tmp_path / "long.yaml", "1.0e4")
    CliRunner().invoke(cli, ["run", str(short), "--results", str(tmp_path)])
    result = CliRunner().invoke(cli, ["run", str(long), "--results", str(tmp_path), "--rerun"])
    assert result.exit_code == 0 and "continuing" not in result.stderr
    assert _stored(tmp_path, long)[2] is None


def test_long_horizon_suite_is_the_issues_setup():
    """suites/long_horizon.yaml: SAD 1D (GELU, tanh, softplus, swish) to 1e7 and tanh 1-4-1 on x² to 1e8."""
    suite = load_suite(LONG_HORIZON_SUITE)
    cases = {(tuple(c.params["network"]["widths"]), c.params["network"]["activation"]): c.params
             for c in suite.cases}
    for activation in ("gelu", "tanh", "softplus", "silu"):
        sad = cases[(1, 10, 20, 10, 1), activation]
        assert sad["horizon"] == 1e7 and sad["integrator"]["name"] == "auto"
        assert sad["target"] == {"name": "polynomial", "preset": "sad1d", "n": 64, "sampling": "uniform", "seed": 0}
        assert sad["init"] == {"scheme": "xavier_uniform", "gain": 1.0, "bias": 0.0}
    small = cases[(1, 4, 1), "tanh"]
    assert small["horizon"] == 1e8 and small["target"]["expr"] == "x^2" and small["target"]["n"] == 32
    net = sadbench.Network([1, 10, 20, 10, 1], activation="gelu")
    assert net.num_params == 461
