"""Issue 3's long-horizon targets: wall time and agreement with a tight reference at every decade.

    python benchmarks/long_horizon.py                      # SAD 1D GELU to 1e7 and tanh 1-4-1 on x² to 1e8
    python benchmarks/long_horizon.py --case sad1d --activation tanh --integrators bdf auto --repeats 5
    NUMBA_CACHE_DIR=$(mktemp -d) python benchmarks/long_horizon.py   # JIT column: cold compilation

For each case: each integrator's first call (JIT compilation, or loading numba's disk cache), reported on
its own; the reference (BDF at rtol 1e-11, cross-checked at every decade against scipy's LSODA with the
exact Hessian at rtol 1e-11, both recorded with it; cached in ``--cache``); then each integrator
``--repeats`` times, best wall time kept. L and ||θ|| are compared with the reference at t = 1e-2, 1e-1,
..., horizon: "5 digits" means a relative difference below 5e-6 at every decade. The problem builders
here are shared by work_precision.py; the scipy runner is asv_bench.peers's, shared with side_by_side.py.
"""

import argparse
import time
from pathlib import Path

import numpy as np
from asv_bench.peers import decades, solve_with_scipy

import sadbench
from sadbench.accuracy import Reference, reference

CASES = {
    # name: (widths, default activation, horizon)
    "sad1d": ([1, 10, 20, 10, 1], "gelu", 1e7),
    "tanh141": ([1, 4, 1], "tanh", 1e8),
}
REFERENCE = {"integrator": "bdf", "rtol": 1e-11, "atol": 1e-14}
CROSS_CHECK = {"method": "LSODA", "rtol": 1e-11, "atol": 1e-14}
TARGET_SECONDS = {"sad1d": 10.0, "tanh141": 0.1}  # issue 3's wall-time targets
FIVE_DIGITS = 5e-6


def problem(case, activation=None):
    """(net, X, Y, θ0, horizon) of a case: SAD 1D (preset sad1d, 64 uniform points, Xavier-uniform, zero
    biases, seed 0) or the 1-4-1 network on y = x² (32 grid points on [−1, 1])."""
    widths, default, horizon = CASES[case]
    net = sadbench.Network(widths, activation=activation or default)
    target = sadbench.get_registry().get("target", "polynomial")
    if case == "sad1d":
        X, Y = target(seed=0, preset="sad1d", n=64, sampling="uniform")
    else:
        X, Y = target(seed=0, expr="x^2", n=32, sampling="grid")
    return net, np.array(X), np.array(Y), net.init(seed=0, scheme="xavier_uniform", gain=1.0, bias=0.0), horizon


def scipy_agreement(net, X, Y, result, ref, horizon):
    """Largest relative difference of L and ||θ|| of a solve_ivp result (at the decades) from ``ref``."""
    losses = np.array([net.loss_and_grad(theta, X, Y)[0] for theta in result.y.T])
    loss = losses / at_decades(ref.t, ref.loss, horizon) - 1
    norm = np.linalg.norm(result.y, axis=0) / at_decades(ref.t, ref.norm, horizon) - 1
    return float(np.max(np.abs(loss))), float(np.max(np.abs(norm)))


def cached_reference(case, activation, cache):
    """The tight reference, saved at the log schedule's times, with its scipy cross-check at the decades;
    computed once and cached with ``how`` it was computed."""
    net, X, Y, theta0, horizon = problem(case, activation)
    path = Path(cache) / f"reference_{case}_{net.activation.name}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            how = {key[4:]: data[key].item() for key in data if key.startswith("how_")}
            return Reference(data["t"], data["loss"], data["norm"], data["theta"], how)
    start = time.perf_counter()
    ref = reference(net, theta0, X, Y, t_end=horizon, **REFERENCE)
    print(f"reference ({REFERENCE}) computed in {time.perf_counter() - start:.1f} s")
    wall, result, _ = solve_with_scipy(net, X, Y, theta0, horizon, CROSS_CHECK["method"], np.inf,
                                       CROSS_CHECK["rtol"], CROSS_CHECK["atol"])
    diff_loss, diff_norm = scipy_agreement(net, X, Y, result, ref, horizon)
    print(f"cross-check: scipy {CROSS_CHECK} with the exact Hessian in {wall:.1f} s, {result.nfev} gradients: "
          f"max rel diff L {diff_loss:.1e}, ||θ|| {diff_norm:.1e} at the decades")
    path.parent.mkdir(parents=True, exist_ok=True)
    how = {f"how_{k}": v for k, v in ref.how.items() if isinstance(v, (int, float, str))}
    how.update({f"how_cross_check_{k}": v for k, v in CROSS_CHECK.items()})
    how.update(how_cross_check_jac="exact Hessian", how_cross_check_wall_time=wall,
               how_cross_check_n_grad=result.nfev, how_cross_check_max_rel_diff_loss=diff_loss,
               how_cross_check_max_rel_diff_norm=diff_norm)
    np.savez(path, t=ref.t, loss=ref.loss, norm=ref.norm, theta=ref.theta, **how)
    return cached_reference(case, activation, cache)


def at_decades(t, values, horizon):
    index = [int(np.argmin(np.abs(t - d))) for d in decades(horizon)]
    return values[index]


def agreement(sol, ref, horizon):
    """Largest relative difference of L and of ||θ|| from the reference over the decades."""
    loss = at_decades(sol.t, sol.loss, horizon) / at_decades(ref.t, ref.loss, horizon) - 1
    norm = at_decades(sol.t, sol.norm, horizon) / at_decades(ref.t, ref.norm, horizon) - 1
    return float(np.max(np.abs(loss))), float(np.max(np.abs(norm)))


def best_run(run, repeats):
    best, sol = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        sol = run()
        best = min(best, time.perf_counter() - start)
    return best, sol


def first_call(net, theta0, X, Y, name):
    """Seconds of an integrator's first (tiny) run in this process: JIT compilation or cache loading."""
    start = time.perf_counter()
    sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=1e-2, detectors=None)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), nargs="+", default=["sad1d", "tanh141"])
    parser.add_argument("--activation", default=None)
    parser.add_argument("--integrators", nargs="+", default=["bdf", "auto", "ros34pw2"])
    parser.add_argument("--rtol", type=float, default=1e-8)
    parser.add_argument("--atol", type=float, default=1e-11)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-wall-time", type=float, default=600.0)
    parser.add_argument("--cache", default="results/benchmark_cache")
    args = parser.parse_args()
    for case in args.case:
        net, X, Y, theta0, horizon = problem(case, args.activation)
        jit = {name: first_call(net, theta0, X, Y, name) for name in args.integrators}
        ref = cached_reference(case, args.activation, args.cache)
        print(f"\n{case}: {net}, P = {net.num_params}, n = {len(X)}, to t = {horizon:g}, rtol {args.rtol:g}, "
              f"atol {args.atol:g}; reference: {ref.how}")
        print(f"{'integrator':>10} {'JIT s':>7} {'wall s':>8} {'steps':>6} {'grads':>7} {'hvps':>6} {'hess':>5} "
              f"{'max rel err L':>14} {'||θ||':>9}  status")
        runs = {}
        for name in args.integrators:
            def run():
                return sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=horizon, rtol=args.rtol,
                                          atol=args.atol, detectors=None, max_wall=args.max_wall_time)
            wall, sol = best_run(run, args.repeats)
            runs[name] = sol
            stats = sol.integrator_stats or {}
            inner = stats.get("bdf", stats)
            err_loss, err_norm = agreement(sol, ref, horizon)
            verdict = "5 digits" if max(err_loss, err_norm) < FIVE_DIGITS else "fewer than 5 digits"
            target = TARGET_SECONDS[case]
            print(f"{name:>10} {jit[name]:7.2f} {wall:8.3f} {sol.n_steps:6d} {sol.n_grad:7d} "
                  f"{inner.get('hessian_vector_products', 0):6d} {inner.get('jacobian_evaluations', 0):5d} "
                  f"{err_loss:14.2e} {err_norm:9.2e}  {sol.status}, {verdict}, "
                  f"{'under' if wall < target else 'OVER'} the {target:g} s target")
        print("relative difference from the reference at each decade (L / ||θ||):")
        print(f"{'t':>8} {'L ref':>12} {'||θ|| ref':>10}" + "".join(f" {name:>19}" for name in runs))
        for k, t in enumerate(decades(horizon)):
            loss, norm = at_decades(ref.t, ref.loss, horizon)[k], at_decades(ref.t, ref.norm, horizon)[k]
            diffs = "".join(f" {at_decades(sol.t, sol.loss, horizon)[k] / loss - 1:9.1e}/"
                            f"{at_decades(sol.t, sol.norm, horizon)[k] / norm - 1:9.1e}" for sol in runs.values())
            print(f"{t:8.0e} {loss:12.6e} {norm:10.7f}{diffs}")


if __name__ == "__main__":
    main()
