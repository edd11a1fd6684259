"""asv benchmarks: the speed and the accuracy of every integrator over a fixed grid of problems.

The grid is integrators × PROBLEMS. The integrators are the built-in ones by default (a fixed list, so the
parameter indices asv stores mean the same thing at every commit); ``SADBENCH_ASV_INTEGRATORS`` replaces it
with comma-separated names, or ``all`` for every registered one, and ``SADBENCH_ASV_PLUGINS`` names local
plugin files or folders (``os.pathsep``-separated) to load, so a plugin's integrator is benchmarked without
editing this file::

    SADBENCH_ASV_PLUGINS=my_plugin.py SADBENCH_ASV_INTEGRATORS=ralston3,rk4 asv run --python=same

A combination the benchmarked commit cannot run (an integrator it does not have, a case its suite reader
rejects) raises NotImplementedError in ``setup`` and shows as skipped; the grid never shrinks. JIT
compilation happens in ``setup`` / ``setup_cache`` and is timed on its own by the ``timeraw_`` benchmarks.
Problems are only ever appended to, so the history stays comparable.
"""

import os
import textwrap
from pathlib import Path

import numpy as np

import sadbench

BUILTIN_INTEGRATORS = ("auto", "bdf", "bosh3", "dopri5", "euler", "heun", "rk4", "rkc", "ros34pw2")
INTEGRATORS_ENV = "SADBENCH_ASV_INTEGRATORS"
PLUGINS_ENV = "SADBENCH_ASV_PLUGINS"

#: name: (widths, activation, loss, target, target parameters, horizon, dt of the fixed-step integrators)
PROBLEMS = {
    "tanh_1-4-1_x2": ([1, 4, 1], "tanh", "mse", "polynomial", {"expr": "x^2", "n": 32, "sampling": "grid"},
                      100.0, 0.02),
    "sad1d_gelu": ([1, 10, 20, 10, 1], "gelu", "mse", "polynomial",
                   {"preset": "sad1d", "n": 64, "sampling": "uniform"}, 100.0, 0.01),
    "logistic_2-8-1": ([2, 8, 1], "tanh", "logistic", "separable", {"d": 2, "n": 40, "margin": 0.05},
                       1000.0, 0.1),
}
RTOL, ATOL = 1e-6, 1e-9  # the adaptive integrators' tolerances in the speed and accuracy benchmarks
STEPS = 100  # steps timed by time_steps
REFERENCE_RTOL, REFERENCE_ATOL = 1e-13, 1e-15  # scipy's DOP853, independent of sadbench's integrators
TOLERANCE = 1e-6  # relative error of L and θ at the horizon that track_grads_to_tolerance asks for
MAX_GRADS = 100_000  # the refinement of track_grads_to_tolerance stops before a run would exceed this

GROUND_TRUTH = Path(__file__).resolve().parents[2] / "suites" / "ground_truth.yaml"
#: ground_truth.yaml cases (13 runs), each to VERDICT_HORIZON: seconds for every integrator, rk4 the slowest.
#: The suite now runs until decided (benchmarks/asv_bench/decide.py tracks that); here every integrator gets
#: the same fixed horizon, as before.
LABELLED = ("SAD toy three points", "reachable toy 2·tanh(0.5x)", "Chatterjee tanh d=20 n=10",
            "deep linear 2-4-4-1", "separable logistic d=2", "homogeneous 2-4-1")
VERDICT_RTOL, VERDICT_ATOL, VERDICT_DT, VERDICT_HORIZON = 1e-8, 1e-10, 0.01, 1e4


def registry():
    paths = [p for p in os.environ.get(PLUGINS_ENV, "").split(os.pathsep) if p]
    return sadbench.get_registry(paths=paths)


registry()  # built here, once: asv forks every benchmark from the process that imported this module


def integrator_names():
    value = os.environ.get(INTEGRATORS_ENV, "").strip()
    if not value:
        return list(BUILTIN_INTEGRATORS)
    if value == "all":
        return sorted(registry().names("integrator"))
    return [name.strip() for name in value.split(",") if name.strip()]


def method(name):
    """The registered integrator ``name``, or NotImplementedError (asv: skipped) where this commit lacks it."""
    reg = registry()
    if name not in reg.names("integrator"):
        raise NotImplementedError(f"integrator {name!r} is not registered at this commit")
    return reg.get("integrator", name)


class Problem:
    """One PROBLEMS entry built: network, data, θ0 (Xavier-uniform, zero biases, seed 0) and its run options."""

    def __init__(self, name):
        widths, activation, self.loss, target, params, self.horizon, self.dt = PROBLEMS[name]
        reg = registry()
        self.net = sadbench.Network(widths, activation, registry=reg)
        X, Y = reg.get("target", target)(seed=0, **params)
        self.X, self.Y = np.array(X, dtype=np.float64), np.array(Y, dtype=np.float64)
        self.theta0 = self.net.init(seed=0, scheme="xavier_uniform", gain=1.0, bias=0.0)

    def integrate(self, integrator, t_end=None, rtol=RTOL, atol=ATOL, dt=None, **options):
        """A single run without detectors; fixed-step integrators get ``dt`` (default: the problem's)."""
        fixed = {} if method(integrator).adaptive else {"dt": dt or self.dt}
        return sadbench.integrate(self.net, self.theta0, self.X, self.Y, loss=self.loss, integrator=integrator,
                                  t_end=self.horizon if t_end is None else t_end, rtol=rtol, atol=atol,
                                  detectors=None, **fixed, **options)

    def reference(self):
        """(L, θ) at the horizon from scipy's DOP853 at tight tolerances on sadbench's gradient."""
        from scipy.integrate import solve_ivp

        rhs = self.net.kernels(self.loss).functions[0]  # -∇L, the compiled function the integrators call
        widths, bias, work = self.net.problem_arrays(self.X, 1)
        prob = (self.X, self.Y, widths, bias, work[0])

        def flow(t, theta):
            velocity = np.empty_like(theta)
            rhs(prob, np.ascontiguousarray(theta), velocity)
            return velocity

        sol = solve_ivp(flow, (0.0, self.horizon), self.theta0, method="DOP853", rtol=REFERENCE_RTOL,
                        atol=REFERENCE_ATOL)
        if sol.status != 0:
            raise RuntimeError(f"reference for {self!r} failed: {sol.message}")
        theta = sol.y[:, -1]
        return float(self.net.loss_and_grad(theta, self.X, self.Y, loss=self.loss)[0]), theta


def relative_errors(sol, ref):
    """Relative errors of L and of θ at the horizon against the reference (L, θ); inf for a failed run."""
    if sol.status != "success":
        return np.inf, np.inf
    loss, theta = ref
    return (abs(float(sol.loss_final) - loss) / abs(loss),
            float(np.linalg.norm(sol.theta - theta) / np.linalg.norm(theta)))


def grads_to_tolerance(problem, integrator, ref):
    """Gradient evaluations of the first run whose L and θ are within TOLERANCE of the reference, refining
    rtol by 10 (adaptive) or halving dt (fixed-step). When MAX_GRADS stops the refinement first, those of
    its last run: a lower bound, finite so that asv still reports a method that stops reaching TOLERANCE."""
    adaptive = method(integrator).adaptive
    n_grad = 0
    for k in range(12):
        if 2 * n_grad > MAX_GRADS:
            break
        if adaptive:
            rtol = 10.0 ** -(3 + k)
            sol = problem.integrate(integrator, rtol=rtol, atol=1e-3 * rtol, max_steps=MAX_GRADS)
        else:
            sol = problem.integrate(integrator, dt=problem.dt / 2**k, max_steps=MAX_GRADS)
        n_grad = int(sol.n_grad)
        if max(relative_errors(sol, ref)) <= TOLERANCE:
            return float(n_grad)
    return float(n_grad)


class Speed:
    """Wall time of STEPS steps and of a whole run to the problem's horizon (rtol 1e-6, atol 1e-9, or the
    problem's dt), one member, no detectors; compilation is done in setup."""

    params = (integrator_names(), list(PROBLEMS))
    param_names = ("integrator", "problem")
    processes = 1
    repeat = (1, 3, 2.0)
    warmup_time = 0.0

    def setup(self, integrator, problem):
        method(integrator)
        self.problem = Problem(problem)
        self.problem.integrate(integrator, t_end=self.problem.dt)  # compiles the kernels and the step

    def time_steps(self, integrator, problem):
        self.problem.integrate(integrator, max_steps=STEPS)

    def time_horizon(self, integrator, problem):
        self.problem.integrate(integrator)


class Accuracy:
    """Errors at the horizon against scipy's DOP853 reference, and the cost of reaching TOLERANCE.

    Everything is computed once per commit in setup_cache (one process, each kernel compiled once); the
    track_ methods read it. Lower is better for every figure."""

    params = (integrator_names(), list(PROBLEMS))
    param_names = ("integrator", "problem")
    processes = 1
    timeout = 900

    def setup_cache(self):
        results = {}
        for name in PROBLEMS:
            problem = Problem(name)
            ref = problem.reference()
            for integrator in integrator_names():
                try:
                    err_loss, err_theta = relative_errors(problem.integrate(integrator), ref)
                    results[integrator, name] = {"loss": err_loss, "theta": err_theta,
                                                 "grads": grads_to_tolerance(problem, integrator, ref)}
                except NotImplementedError as exc:
                    results[integrator, name] = str(exc)
        return results

    def setup(self, results, integrator, problem):
        self.result = results[integrator, problem]
        if isinstance(self.result, str):
            raise NotImplementedError(self.result)

    def track_rel_error_loss(self, results, integrator, problem):
        return self.result["loss"]

    track_rel_error_loss.unit = "relative error"

    def track_rel_error_theta(self, results, integrator, problem):
        return self.result["theta"]

    track_rel_error_theta.unit = "relative error"

    def track_grads_to_tolerance(self, results, integrator, problem):
        return self.result["grads"]

    track_grads_to_tolerance.unit = "gradient evaluations"


def labelled_cases():
    """The LABELLED cases of suites/ground_truth.yaml as this commit's suite reader expands them."""
    try:
        from sadbench.suites.suite import load_suite

        cases = [case for case in load_suite(GROUND_TRUTH).cases if case.label in LABELLED]
    except Exception as exc:  # an older commit's reader may not know the file's keys
        raise NotImplementedError(f"{GROUND_TRUTH.name} cannot be read at this commit: {exc}") from exc
    if {case.label for case in cases} != set(LABELLED):
        raise NotImplementedError(f"{GROUND_TRUTH.name} lacks some of {LABELLED}")
    return cases


def verdict_counts(cases, integrator):
    """(wrong, undecided) members over the cases run with ``integrator``: rtol 1e-8, atol 1e-10, or dt 0.01."""
    from dataclasses import replace

    from sadbench.suites.runner import integrate_case

    settings = {"rtol": VERDICT_RTOL, "atol": VERDICT_ATOL} if method(integrator).adaptive else {"dt": VERDICT_DT}
    wrong = undecided = 0
    for case in cases:
        params = {**case.params, "integrator": {"name": integrator, **settings}, "horizon": VERDICT_HORIZON}
        params.pop("until", None)
        sol = integrate_case(replace(case, params=params), registry())
        labels = [v.label for v in sol.verdict]
        wrong += sum(label not in (params["expect"], "undecided") for label in labels)
        undecided += labels.count("undecided")
    return wrong, undecided


class Verdicts:
    """Verdicts on a small labelled set (LABELLED, from suites/ground_truth.yaml) with each integrator:
    members whose verdict is wrong, and members left undecided (lower is better)."""

    params = (integrator_names(),)
    param_names = ("integrator",)
    processes = 1
    timeout = 900

    def setup_cache(self):
        try:
            cases = labelled_cases()
        except NotImplementedError as exc:
            return str(exc)
        results = {}
        for integrator in integrator_names():
            try:
                results[integrator] = verdict_counts(cases, integrator)
            except NotImplementedError as exc:
                results[integrator] = str(exc)
        return results

    def setup(self, results, integrator):
        self.result = results if isinstance(results, str) else results[integrator]
        if isinstance(self.result, str):
            raise NotImplementedError(self.result)

    def track_misclassified(self, results, integrator):
        return self.result[0]

    track_misclassified.unit = "runs"

    def track_undecided(self, results, integrator):
        return self.result[1]

    track_undecided.unit = "runs"


class Compile:
    """JIT compilation on its own, in fresh processes: importing sadbench with an empty numba cache (every
    cached kernel, driver and step compiles), and the first run of each problem with a warm cache (the
    network kernels of its activation and loss are built)."""

    processes = 1
    number = 1
    repeat = 1
    timeout = 600

    def timeraw_import_cold(self):
        return textwrap.dedent("""
            import os, tempfile
            os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="sadbench-asv-")
            import sadbench
        """)


class FirstRun:
    """The first one-step rk4 run of each problem in a fresh process, sadbench imported and its data built
    (warm disk cache): the network kernels of the problem's activation and loss compile here."""

    params = (list(PROBLEMS),)
    param_names = ("problem",)
    processes = 1
    number = 1
    repeat = 1
    timeout = 300

    def timeraw_first_run(self, problem):
        package = Path(__file__).resolve().parent
        setup = (f"import sys; sys.path.insert(0, {str(package.parent)!r}); "
                 f"from {package.name} import integrators as b; p = b.Problem({problem!r})")
        return "p.integrate('rk4', t_end=p.dt)", setup
