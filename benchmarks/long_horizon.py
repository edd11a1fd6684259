"""Issue 3's long-horizon targets: wall time and agreement with a tight reference at every decade.

    python benchmarks/long_horizon.py                      # SAD 1D GELU to 1e7 and tanh 1-4-1 on x² to 1e8
    python benchmarks/long_horizon.py --case sad1d --activation tanh --integrators bdf auto --repeats 5

For each case: the reference (sadbench's ``reference``, cached in ``--cache``), then each integrator run once
to compile (JIT time reported on its own) and ``--repeats`` times, best wall time kept; L and ||θ|| are
compared with the reference at t = 1e-2, 1e-1, ..., horizon. The problem builders here are shared by
compare_scipy.py and work_precision.py.
"""

import argparse
import time
from pathlib import Path

import numpy as np

import sadbench
from sadbench.accuracy import Reference, reference

CASES = {
    # name: (widths, default activation, horizon)
    "sad1d": ([1, 10, 20, 10, 1], "gelu", 1e7),
    "tanh141": ([1, 4, 1], "tanh", 1e8),
}
REFERENCE = {"integrator": "bdf", "rtol": 1e-11, "atol": 1e-14}


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


def decades(horizon):
    return 10.0 ** np.arange(-2, round(np.log10(horizon)) + 1)


def cached_reference(case, activation, cache):
    """The tight reference at the decades (save times of the log schedule), computed once and cached."""
    net, X, Y, theta0, horizon = problem(case, activation)
    path = Path(cache) / f"reference_{case}_{net.activation.name}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            how = {key[4:]: data[key].item() for key in data if key.startswith("how_")}
            return Reference(data["t"], data["loss"], data["norm"], data["theta"], how)
    start = time.perf_counter()
    ref = reference(net, theta0, X, Y, t_end=horizon, **REFERENCE)
    print(f"reference ({REFERENCE}) computed in {time.perf_counter() - start:.1f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    how = {f"how_{k}": v for k, v in ref.how.items() if isinstance(v, (int, float, str))}
    np.savez(path, t=ref.t, loss=ref.loss, norm=ref.norm, theta=ref.theta, **how)
    return ref


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
        ref = cached_reference(case, args.activation, args.cache)
        print(f"\n{case}: {net}, P = {net.num_params}, n = {len(X)}, to t = {horizon:g}; reference: {ref.how}")
        print(f"{'integrator':>10} {'JIT s':>7} {'wall s':>8} {'steps':>6} {'grads':>7} {'hvps':>6} {'hess':>5} "
              f"{'max rel err L':>14} {'||θ||':>9}  status")
        for name in args.integrators:
            def run():
                return sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=horizon, rtol=args.rtol,
                                          atol=args.atol, detectors=None, max_wall_time=args.max_wall_time)
            start = time.perf_counter()
            sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=1e-2, detectors=None)
            jit = time.perf_counter() - start
            wall, sol = best_run(run, args.repeats)
            stats = sol.integrator_stats or {}
            inner = stats.get("bdf", stats)
            err_loss, err_norm = agreement(sol, ref, horizon)
            print(f"{name:>10} {jit:7.1f} {wall:8.3f} {sol.n_steps:6d} {sol.n_grad:7d} "
                  f"{inner.get('hessian_vector_products', 0):6d} {inner.get('jacobian_evaluations', 0):5d} "
                  f"{err_loss:14.2e} {err_norm:9.2e}  {sol.status}")


if __name__ == "__main__":
    main()
