"""The public API: grouped options (StepControl, Save), explicit resume, old spellings that say the new one,
and every argument checked at the boundary with a message naming it and its allowed range."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

import sadbench
from sadbench import OptionError, SadbenchError, Save, StepControl

X = np.linspace(-1.0, 1.0, 8)[:, None]
Y = X**2


@pytest.fixture(scope="module")
def net():
    return sadbench.Network([1, 3, 1], activation="tanh")


@pytest.fixture(scope="module")
def theta0(net):
    return net.init(seed=1)


def message(call):
    with pytest.raises(SadbenchError) as info:
        call()
    return str(info.value)


# --- grouped options ------------------------------------------------------------------------------------


def test_step_control_reaches_the_driver(net, theta0):
    """dt_max caps every step: with dt_max = 0.05, a run to t = 10 takes at least 200 steps, without it far
    fewer (dopri5 on this smooth flow); both give the same θ."""
    options = dict(t_end=10.0, save=[10.0], detectors=None)
    capped = sadbench.integrate(net, theta0, X, Y, step=StepControl(dt_max=0.05), **options)
    free = sadbench.integrate(net, theta0, X, Y, **options)
    assert capped.status == free.status == "success"
    assert capped.n_steps >= 200 > 2 * free.n_steps
    np.testing.assert_allclose(capped.theta, free.theta, rtol=1e-5)


def test_save_shorthands_equal_their_save_objects(net, theta0):
    times = [0.1, 0.5, 1.0]
    for shorthand, full in (("linear", Save(schedule="linear")), (times, Save(times=times)), ("log", Save())):
        a = sadbench.integrate(net, theta0, X, Y, t_end=1.0, save=shorthand, detectors=None)
        b = sadbench.integrate(net, theta0, X, Y, t_end=1.0, save=full, detectors=None)
        np.testing.assert_array_equal(a.t, b.t)
        np.testing.assert_array_equal(a.loss, b.loss)
    saved = sadbench.integrate(net, theta0, X, Y, t_end=1.0, save=Save(times=times, theta=True), detectors=None)
    np.testing.assert_array_equal(saved.t, [0.0] + times)
    assert saved.theta_saved.shape == (4, net.num_params)
    np.testing.assert_array_equal(saved.theta_saved[-1], saved.theta)
    np.testing.assert_array_equal(saved.theta_saved[0], theta0)


def test_save_per_decade_and_t_first_shape_the_log_schedule(net, theta0):
    sol = sadbench.integrate(net, theta0, X, Y, t_end=100.0, save=Save(per_decade=2, t_first=1.0), detectors=None)
    np.testing.assert_allclose(sol.t, [0.0, 1.0, 10**0.5, 10.0, 10**1.5, 100.0], rtol=1e-12)


def test_resume_is_explicit_and_equals_one_run(net, theta0):
    whole = sadbench.integrate(net, theta0, X, Y, t_end=4.0, save=[1.0, 2.0, 4.0], detectors=None)
    half = sadbench.integrate(net, theta0, X, Y, t_end=2.0, save=[1.0, 2.0], detectors=None)
    for continued in (half.resume(t_end=4.0, save=[4.0], detectors=None),
                      sadbench.integrate(net, None, X, Y, resume=half, t_end=4.0, save=[4.0], detectors=None),
                      sadbench.resume(half, 4.0, save=[4.0], detectors=None)):
        np.testing.assert_array_equal(continued.t, whole.t)
        np.testing.assert_array_equal(continued.theta, whole.theta)
        np.testing.assert_array_equal(continued.loss, whole.loss)
    assert message(lambda: sadbench.integrate(net, theta0, X, Y, resume=half, t_end=4.0)) == (
        "theta0 must be None with resume=: the run continues from its stored state")
    assert message(lambda: sadbench.integrate(net, None, X, Y, resume=half, t_end=4.0,
                                              step=StepControl(dt_max=0.1))) == (
        "step must stay StepControl(dt_min=0.0, dt_max=inf, safety=0.9, factor_min=0.2, factor_max=10.0): "
        "a resumed run keeps its stored step; got StepControl(dt_min=0.0, dt_max=0.1, safety=0.9, "
        "factor_min=0.2, factor_max=10.0)")



def test_resume_keeps_a_stored_save_of_theta(net, theta0):
    """A run that saved θ continues with θ saved, without repeating ``save=``: the whole equals one run."""
    save = Save(per_decade=4, t_first=1.0, theta=True)
    whole = sadbench.integrate(net, theta0, X, Y, t_end=100.0, save=save, detectors=None)
    half = sadbench.integrate(net, theta0, X, Y, t_end=10.0, save=save, detectors=None)
    continued = sadbench.integrate(net, None, X, Y, resume=half, t_end=100.0, detectors=None)
    np.testing.assert_array_equal(continued.t, whole.t)
    np.testing.assert_array_equal(continued.theta_saved, whole.theta_saved)
    assert "must keep theta=True" in message(
        lambda: sadbench.integrate(net, None, X, Y, resume=half, t_end=100.0, save=Save(), detectors=None))

# --- old spellings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("keyword, new", [
    ("dt_min", "step=sadbench.StepControl(dt_min=...)"),
    ("dt_max", "step=sadbench.StepControl(dt_max=...)"),
    ("safety", "step=sadbench.StepControl(safety=...)"),
    ("factor_min", "step=sadbench.StepControl(factor_min=...)"),
    ("factor_max", "step=sadbench.StepControl(factor_max=...)"),
    ("max_wall_time", "max_wall=..."),
    ("save_per_decade", "save=sadbench.Save(per_decade=...)"),
    ("t_first", "save=sadbench.Save(t_first=...)"),
    ("save_theta", "save=sadbench.Save(theta=True)"),
])
def test_old_keywords_say_their_new_spelling(net, theta0, keyword, new):
    got = message(lambda: sadbench.integrate(net, theta0, X, Y, **{keyword: 1.0}))
    assert got == f"{keyword} is no longer an argument of integrate(): use {new}"


def test_resume_refuses_max_wall_time_with_the_new_name(net, theta0):
    sol = sadbench.integrate(net, theta0, X, Y, t_end=0.1, detectors=None)
    assert message(lambda: sol.resume(1.0, max_wall_time=5)) == (
        "max_wall_time is no longer an argument of resume(): use max_wall=...")


def test_a_solution_as_theta0_says_how_to_resume(net, theta0):
    sol = sadbench.integrate(net, theta0, X, Y, t_end=0.1, detectors=None)
    expected = ("theta0 is the initial parameters; to continue a run pass resume=sol (with theta0=None) or call "
                "sol.resume(t_end=...)")
    assert message(lambda: sadbench.integrate(net, sol, X, Y, t_end=1.0)) == expected
    assert message(lambda: sadbench.integrate(net, sol.resume_state, X, Y, t_end=1.0)) == expected


def test_an_unknown_keyword_gets_a_suggestion(net, theta0):
    got = message(lambda: sadbench.integrate(net, theta0, X, Y, rtoll=1e-3))
    assert got.startswith("rtoll is not an argument of integrate(); valid: atol, backend, cuda_layout, ")
    assert got.endswith("(did you mean 'rtol'?)")


# --- arguments checked at the boundary -------------------------------------------------------------------


@pytest.mark.parametrize("options, expected", [
    ({"t_end": np.inf}, "t_end must be a finite number > 0, got inf"),
    ({"t_end": 0.0}, "t_end must be a finite number > 0, got 0.0"),
    ({"t_end": "10"}, "t_end must be a finite number > 0, got '10'"),
    ({"rtol": 0.0, "atol": 0.0}, "atol must be > 0: the error test scales each component by atol + rtol·|θ_i|, "
                                 "which is 0 where θ_i = 0"),
    ({"atol": 0.0}, "atol must be > 0"),
    ({"rtol": -1e-6}, "rtol must be a finite number ≥ 0, got -1e-06"),
    ({"atol": np.nan}, "atol must be a finite number ≥ 0, got nan"),
    ({"dt": -0.1}, "dt must be a finite number > 0, got -0.1"),
    ({"dt": 2.0, "step": StepControl(dt_max=1.0)}, "dt must be in [dt_min, dt_max] = [0, 1], got 2"),
    ({"integrator": "rk4"}, "dt must be a finite number > 0, got None (integrator 'rk4' is fixed-step: give a "
                            "positive dt)"),
    ({"max_steps": 0}, "max_steps must be a whole number ≥ 1, got 0"),
    ({"max_steps": 2.5}, "max_steps must be a whole number ≥ 1, got 2.5"),
    ({"max_wall": -1}, "max_wall must be a number ≥ 0, got -1"),
    ({"step": {"dt_max": 1}}, "step must be a sadbench.StepControl, got {'dt_max': 1}"),
    ({"save": 5}, "save must be 'log', 'linear', a sequence of times or a sadbench.Save, got 5"),
    ({"save": "cubic"}, "save schedule must be one of 'log', 'linear', got 'cubic'"),
    ({"save": [0.5, 0.2]}, "save times must be a non-empty, strictly increasing sequence of finite times ≥ 0, "
                           "got [0.5, 0.2]"),
    ({"save": Save(per_decade=10**8), "t_end": 1e6}, "the log save schedule to t_end 1e+06 with per_decade "
                                                     "100000000 has 800000001 times; at most 1000000"),
    ({"detectors": 3}, "detectors must be 'default', None or a list of detectors, got 3"),
    ({"backend": "gpu"}, "backend must be one of 'cpu', 'cuda', got 'gpu'"),
    ({"precision": "float16"}, "precision must be one of 'float64', 'float32', got 'float16'"),
    ({"loss": "hinge"}, "unknown loss 'hinge'; registered: exponential, logistic, mse"),
])
def test_bad_arguments_name_themselves_and_their_range(net, theta0, options, expected):
    got = message(lambda: sadbench.integrate(net, theta0, X, Y, **options))
    assert got.startswith(expected), got


@pytest.mark.parametrize("fields, expected", [
    ({"dt_min": 1.0, "dt_max": 0.5}, "dt_min must be ≤ dt_max = 0.5, got 1"),
    ({"dt_min": -1.0}, "dt_min must be a finite number ≥ 0, got -1.0"),
    ({"dt_max": 0.0}, "dt_max must be a number > 0, got 0.0"),
    ({"safety": 50}, "safety must be a finite number in (0, 1], got 50"),
    ({"safety": 0}, "safety must be a finite number in (0, 1], got 0"),
    ({"factor_min": 1.5}, "factor_min must be a finite number in (0, 1), got 1.5"),
    ({"factor_max": 0.5}, "factor_max must be a finite number > 1, got 0.5"),
    ({"factor_max": np.inf}, "factor_max must be a finite number > 1, got inf"),
])
def test_step_control_checks_its_ranges_and_orderings(fields, expected):
    with pytest.raises(OptionError) as info:
        StepControl(**fields)
    assert str(info.value) == expected


def test_save_refuses_times_mixed_with_a_schedule():
    with pytest.raises(OptionError, match="save takes either times or schedule/per_decade/t_first, not both"):
        Save(times=[1.0], per_decade=3)


@pytest.mark.parametrize("X_, Y_, expected", [
    (np.zeros((0, 1)), np.zeros((0, 1)), "X and Y hold 0 points; the loss averages over at least one"),
    (np.array([[0.0], [np.nan]]), np.zeros((2, 1)), "X[1, 0] is nan: data must be finite"),
    (np.zeros((2, 1)), np.array([[0.0], [np.inf]]), "Y[1, 0] is inf: data must be finite"),
    (np.zeros((2, 2)), np.zeros((2, 1)), "X must have shape (n, 1), got (2, 2)"),
    ([["a"], ["b"]], np.zeros((2, 1)), "X must hold real numbers, got dtype <U1"),
    ([[1.0], [1.0, 2.0]], np.zeros((2, 1)), "X must be an array of numbers"),
])
def test_bad_data_are_refused_naming_row_and_column(net, theta0, X_, Y_, expected):
    assert message(lambda: sadbench.integrate(net, theta0, X_, Y_)).startswith(expected)
    assert message(lambda: net.loss_and_grad(theta0, X_, Y_)).startswith(expected)


def test_logistic_labels_must_be_signs(net, theta0):
    labels = np.sign(X)
    labels[3] = 0.5
    assert message(lambda: sadbench.integrate(net, theta0, X, labels, loss="logistic")) == (
        "Y[3, 0] is 0.5: loss 'logistic' needs labels -1 or +1")


@pytest.mark.parametrize("call, expected", [
    (lambda net: net.init(ensemble=0), "ensemble must be a whole number ≥ 1, got 0"),
    (lambda net: net.init(seed=-1), "seed must be a whole number ≥ 0, got -1"),
    (lambda net: sadbench.Network([1, 0, 1]), "widths must list at least two positive sizes, got [1, 0, 1]"),
    (lambda net: sadbench.Network([1, 2.5, 1]), "widths must list at least two positive sizes, got [1, 2.5, 1]"),
    (lambda net: sadbench.Network("abc"), "widths must list at least two positive sizes, got 'abc'"),
    (lambda net: sadbench.Network([1, 1], bias="no"), "bias must be True or False, got 'no'"),
    (lambda net: sadbench.integrate(net, np.zeros((0, net.num_params)), X, Y),
     "theta0 has shape (0, 10): an ensemble needs at least one member"),
    (lambda net: sadbench.integrate("net", None, X, Y), "net must be a sadbench.Network, got str"),
])
def test_network_arguments_are_checked(net, call, expected):
    assert message(lambda: call(net)) == expected


def test_zero_points_print_nothing_from_inside_the_kernels():
    """0 data points used to reach the compiled kernels, whose point loop (a range with step 0) raised where
    numba cannot propagate exceptions: 212 "Exception ignored" tracebacks, then a success. Now refused."""
    code = ("import numpy as np, sadbench\n"
            "net = sadbench.Network([1, 4, 1])\n"
            "try:\n"
            "    sadbench.integrate(net, net.init(), np.zeros((0, 1)), np.zeros((0, 1)), t_end=1.0)\n"
            "except sadbench.SadbenchError as exc:\n"
            "    print('refused:', exc)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "refused: X and Y hold 0 points; the loss averages over at least one\n"
    assert "Exception ignored" not in done.stderr and "Traceback" not in done.stderr


# --- fixed steps end where asked -------------------------------------------------------------------------


def rk4_step(net, theta, h):
    """One classical Runge–Kutta step of θ' = -∇L(θ), written out."""
    f = lambda th: -net.loss_and_grad(th, X, Y)[1]
    k1 = f(theta)
    k2 = f(theta + h / 2 * k1)
    k3 = f(theta + h / 2 * k2)
    k4 = f(theta + h * k3)
    return theta + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


@pytest.mark.parametrize("save, stops", [
    ("log", [0.0, 0.7, 1.0]),  # the log times rounded up to multiples of dt are 0.7, and 1.4 (left out)
    ("linear", [0.0, 0.7, 1.0]),
    ([0.2, 1.0], [0.0, 0.2, 0.9, 1.0]),  # the step shortened to hit 0.2, then 0.2 → 0.9 and 0.9 → 1
])
def test_a_fixed_step_run_ends_exactly_at_t_end_and_every_save_time(net, theta0, save, stops):
    """rk4 with dt = 0.7 to t_end = 1 used to end at t = 1.4 (a save time rounded up past t_end): the step
    that would pass a save time or t_end is shortened to end there; θ is that of the same steps by hand."""
    sol = sadbench.integrate(net, theta0, X, Y, integrator="rk4", dt=0.7, t_end=1.0, save=save, detectors=None)
    assert sol.status == "success" and sol.t_final == 1.0 and sol.t.max() == 1.0
    assert set(stops[1:]) >= set(sol.t[1:]) and (not isinstance(save, list) or set(save) <= set(sol.t))
    theta = theta0
    for a, b in zip(stops, stops[1:]):
        theta = rk4_step(net, theta, b - a)
    np.testing.assert_allclose(sol.theta, theta, rtol=1e-13, atol=1e-15)
    assert sol.n_steps == len(stops) - 1


def test_backend_cuda_without_numba_cuda_says_what_to_install(net, theta0, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    assert message(lambda: sadbench.integrate(net, theta0, X, Y, backend="cuda")) == (
        "backend 'cuda' needs numba-cuda, which is not installed: pip install \"sadbench[cuda]\"")


def test_an_overflow_is_a_status_not_a_warning():
    """Members that overflow (euler at a step far beyond stability), sit at a saddle (0/0 in the detectors'
    ratios) or start non-finite end with a status and a verdict; no RuntimeWarning reaches the caller."""
    net = sadbench.Network([1, 8, 1], activation="relu")
    thetas = net.init(seed=0, ensemble=3)
    thetas[2] = np.nan
    saddle = sadbench.Network([1, 2, 1], activation="tanh", bias=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        blown = sadbench.integrate(net, thetas, X, np.sign(Y - 0.5), loss="exponential", integrator="euler",
                                   dt=50.0, t_end=1e4)
        still = sadbench.integrate(saddle, np.zeros(saddle.num_params), X, Y, t_end=1e3)
    assert list(blown.status) == ["nonfinite", "nonfinite", "nonfinite"]
    assert [v.label for v in blown.verdict] == ["failed"] * 3
    assert still.status == "success" and still.verdict.label == "undecided"
