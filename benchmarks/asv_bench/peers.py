"""sadbench against other stiff solvers on the SAD paper's networks, side by side in one process.

The peers get sadbench's own exact gradient and Hessian (scipy's ``BDF`` and ``Radau``: ``fun`` is the
compiled −∇L, ``jac`` the compiled exact −∇²L), or their own autodiff (diffrax's ``Kvaerno5`` on a JAX
network, its Newton Jacobian by ``jax.jacfwd`` of ``jax.grad``: the Hessian), and the same tolerances. Each
run is compared with a tight reference at every decade of t (the largest relative difference of L and of
||θ||), so a time comes with the accuracy it bought. Peers that are not installed (JAX, diffrax) are skipped;
a run longer than its cap is stopped and reported as such.

Problems (``PROBLEMS``): SAD 1D (GELU 1-10-20-10-1, P = 461, 64 uniform points) and SAD 2D (GELU
2-20-40-20-1, P = 1741, 2000 uniform points), Xavier-uniform weights (gain 1), zero biases, seed 0, mse.
``benchmarks/side_by_side.py`` runs them to the issue's horizons (1e7 and 1e4) and prints ratios; the asv
classes below run them to shorter ones (``ASV_HORIZON``), so that a commit's benchmarks stay minutes long.
"""

import contextlib
import math
import multiprocessing
import time

import numpy as np

import sadbench
from sadbench.accuracy import reference

#: name: (widths, polynomial preset, points, the issue's horizon)
PROBLEMS = {
    "sad1d": ([1, 10, 20, 10, 1], "sad1d", 64, 1e7),
    "sad2d": ([2, 20, 40, 20, 1], "sad2d", 2000, 1e4),
}
ASV_HORIZON = {"sad1d": 1e4, "sad2d": 1e2}
RTOL, ATOL = 1e-8, 1e-11
REFERENCE_RTOL, REFERENCE_ATOL = 1e-11, 1e-14
#: solver name: how it is run (sadbench integrators, scipy methods, diffrax solvers)
SOLVERS = ("sadbench auto", "sadbench bdf", "sadbench bdf dense", "scipy BDF", "scipy Radau",
           "diffrax Kvaerno5")


def problem(name):
    """(net, X, Y, θ0) of a PROBLEMS entry."""
    widths, preset, n, _ = PROBLEMS[name]
    net = sadbench.Network(widths, activation="gelu")
    X, Y = sadbench.get_registry().get("target", "polynomial")(seed=0, preset=preset, n=n, sampling="uniform")
    theta0 = net.init(seed=0, scheme="xavier_uniform", gain=1.0, bias=0.0)
    return net, np.array(X, dtype=np.float64), np.array(Y, dtype=np.float64), theta0


def decades(horizon):
    return 10.0 ** np.arange(-2, round(math.log10(horizon)) + 1)


def tight_reference(name, horizon, cross_check=True):
    """L and ||θ|| at the decades from sadbench's ``auto`` at rtol 1e-11, atol 1e-14, cross-checked by its BDF
    with the dense exact Hessian at the same tolerances (their difference in L is recorded, NaN without)."""
    from sadbench.solvers.bdf import BDF

    net, X, Y, theta0 = problem(name)
    ref = reference(net, theta0, X, Y, t_end=horizon, save=decades(horizon), integrator="auto",
                    rtol=REFERENCE_RTOL, atol=REFERENCE_ATOL,
                    cross_check=BDF("bdf_dense", jacobian="dense") if cross_check else None)
    keep = ref.t > 0
    difference = ref.how["cross_check"]["max_rel_err_loss"] if cross_check else math.nan
    return {"loss": ref.loss[keep], "norm": ref.norm[keep], "cross_check": difference}


def agreement(loss, norm, ref):
    """Largest relative difference of L and of ||θ|| from the reference over the decades."""
    return float(np.max(np.abs(loss / ref["loss"] - 1))), float(np.max(np.abs(norm / ref["norm"] - 1)))


class OutOfTime(Exception):
    pass


def run_sadbench(name, horizon, integrator):
    """One sadbench run (compiled beforehand by a tiny one)."""
    from sadbench.solvers.bdf import BDF

    net, X, Y, theta0 = problem(name)
    method = BDF("bdf_dense", jacobian="dense") if integrator == "bdf dense" else integrator
    options = dict(integrator=method, rtol=RTOL, atol=ATOL, detectors=None)
    sadbench.integrate(net, theta0, X, Y, t_end=1e-2, **options)
    start = time.perf_counter()
    sol = sadbench.integrate(net, theta0, X, Y, t_end=horizon, save=decades(horizon), **options)
    wall = time.perf_counter() - start
    stats = sol.integrator_stats.get("bdf", sol.integrator_stats)
    keep = sol.t > 0  # the decades; a Solution starts with t = 0
    return {"wall": wall, "grads": int(sol.n_grad), "jacobians": stats.get("jacobian_evaluations", 0),
            "hvps": stats.get("hessian_vector_products", 0), "loss": sol.loss[keep], "norm": sol.norm[keep],
            "status": sol.status}


def solve_with_scipy(net, X, Y, theta0, horizon, method, cap, rtol=RTOL, atol=ATOL, exact_jac=True,
                     one_thread=True):
    """scipy's ``solve_ivp`` with sadbench's compiled −∇L as ``fun`` and its exact −∇²L as ``jac`` (finite
    differences with ``exact_jac`` false), saving at the decades; one OpenBLAS thread, as sadbench's runs
    (``one_thread`` false: OpenBLAS's default); stopped after ``cap`` seconds. Returns (wall, result or None
    when stopped, counts of gradients and Jacobians and the time reached)."""
    from scipy.integrate import solve_ivp

    from sadbench.solvers.blas import one_blas_thread

    rhs, _, hessian = net.kernels("mse").functions
    widths, bias, work = net.problem_arrays(X, 1)
    prob = (X, Y, widths, bias, work[0])
    P = net.num_params
    counts = {"fun": 0, "jac": 0, "t": 0.0}
    start = time.perf_counter()

    def fun(t, theta):
        counts["fun"] += 1
        counts["t"] = t
        if time.perf_counter() - start > cap:
            raise OutOfTime
        out = np.empty(P)
        rhs(prob, np.ascontiguousarray(theta), out)
        return out

    def jac(t, theta):
        counts["jac"] += 1
        H = np.empty((P, P))
        hessian(prob, np.ascontiguousarray(theta), H)
        return -H

    try:
        with one_blas_thread() if one_thread else contextlib.nullcontext():
            result = solve_ivp(fun, (0.0, horizon), theta0, method=method, t_eval=decades(horizon), rtol=rtol,
                               atol=atol, jac=jac if exact_jac else None)
    except OutOfTime:
        result = None
    return time.perf_counter() - start, result, counts


def run_scipy(name, horizon, method, cap):
    """One PROBLEMS entry on scipy's ``method`` (:func:`solve_with_scipy`)."""
    net, X, Y, theta0 = problem(name)
    wall, result, counts = solve_with_scipy(net, X, Y, theta0, horizon, method, cap)
    if result is None:
        return {"wall": wall, "grads": counts["fun"], "jacobians": counts["jac"],
                "status": f"stopped at t = {counts['t']:.3g} after {cap:g} s"}
    loss = net.loss_and_grad(np.ascontiguousarray(result.y.T), X, Y)[0]
    return {"wall": wall, "grads": int(result.nfev), "jacobians": int(result.njev), "loss": loss,
            "norm": np.linalg.norm(result.y, axis=0), "status": "success" if result.success else result.message}


def jax_available():
    try:
        import diffrax  # noqa: F401
        import jax  # noqa: F401
    except ImportError:
        return False
    return True


def _diffrax_child(name, horizon, pipe):
    """In a child process: build the JAX network, compile Kvaerno5 on a short horizon, time the real one."""
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import diffrax

    net, X, Y, theta0 = problem(name)
    shapes = [(layer.offset, layer.fan_out, layer.fan_in) for layer in net.layers]
    Xt, Yt = jnp.asarray(X.T), jnp.asarray(Y.T)

    def loss(theta):
        a = Xt
        for i, (o, fan_out, fan_in) in enumerate(shapes):
            W = theta[o : o + fan_out * fan_in].reshape(fan_out, fan_in)
            b = theta[o + fan_out * fan_in : o + fan_out * (fan_in + 1)]
            z = W @ a + b[:, None]
            a = z if i == len(shapes) - 1 else jax.nn.gelu(z, approximate=False)
        return ((a - Yt) ** 2).sum(0).mean()

    term = diffrax.ODETerm(lambda t, y, args: -jax.grad(loss)(y))

    @jax.jit
    def solve(t1, ts):
        sol = diffrax.diffeqsolve(term, diffrax.Kvaerno5(), 0.0, t1, None, jnp.asarray(theta0),
                                  stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                                  saveat=diffrax.SaveAt(ts=ts), max_steps=10_000_000)
        return jax.vmap(loss)(sol.ys), jnp.linalg.norm(sol.ys, axis=1), sol.stats["num_steps"]

    ts = decades(horizon)
    start = time.perf_counter()
    jax.block_until_ready(solve(1e-2, ts * (1e-2 / horizon)))
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    losses, norms, steps = jax.block_until_ready(solve(horizon, ts))
    pipe.send({"wall": time.perf_counter() - start, "compile": compile_seconds, "steps": int(steps),
               "loss": np.asarray(losses), "norm": np.asarray(norms), "status": "success"})


def run_diffrax(name, horizon, cap):
    """diffrax's Kvaerno5 in a child process (so that a run past ``cap`` seconds can be stopped); JAX's
    compilation is done on a short horizon first and reported apart."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_diffrax_child, args=(name, horizon, child))
    start = time.perf_counter()
    process.start()
    ready = parent.poll(cap)
    if not ready:
        process.kill()
        process.join()
        return {"wall": time.perf_counter() - start, "status": f"stopped after {cap:g} s (compilation included)"}
    result = parent.recv()
    process.join()
    return result


def run(name, horizon, solver, cap=600.0):
    """Run ``solver`` (one of SOLVERS) on problem ``name`` to ``horizon``."""
    kind, _, method = solver.partition(" ")
    if kind == "sadbench":
        return run_sadbench(name, horizon, method)
    if kind == "scipy":
        return run_scipy(name, horizon, method, cap)
    if not jax_available():
        raise NotImplementedError("JAX and diffrax are not installed (pip install 'sadbench[bench]')")
    return run_diffrax(name, horizon, cap)


class SideBySide:
    """Wall time and accuracy of every solver on each problem to ASV_HORIZON, and its time as a multiple of
    sadbench auto's measured in the same process, against sadbench auto at rtol 1e-11 (the script adds the
    dense cross-check). Lower is better for every figure."""

    params = (list(PROBLEMS), list(SOLVERS))
    param_names = ("problem", "solver")
    processes = 1
    number = 1
    repeat = 1
    timeout = 1800
    cap = 300.0

    def setup(self, problem_name, solver):
        horizon = ASV_HORIZON[problem_name]
        self.result = run(problem_name, horizon, solver, self.cap)
        self.errors = (math.inf, math.inf)
        if "loss" in self.result:
            self.errors = agreement(self.result["loss"], self.result["norm"],
                                    tight_reference(problem_name, horizon, cross_check=False))
        self.baseline = run(problem_name, horizon, "sadbench auto")["wall"]

    def track_seconds(self, problem_name, solver):
        return self.result["wall"]

    track_seconds.unit = "seconds"

    def track_ratio_to_sadbench_auto(self, problem_name, solver):
        return self.result["wall"] / self.baseline

    track_ratio_to_sadbench_auto.unit = "ratio"

    def track_rel_error(self, problem_name, solver):
        return max(self.errors)

    track_rel_error.unit = "relative error"
