"""sadbench's stiff integrators against scipy's solve_ivp (LSODA, BDF, Radau) on the same cases, in one run.

    python benchmarks/compare_scipy.py                       # SAD 1D GELU to 1e7, then tanh 1-4-1 to 1e8
    python benchmarks/compare_scipy.py --case tanh141 --scipy-cap 60

scipy gets sadbench's compiled gradient as ``fun`` and, in the "exact" rows, the exact Hessian as ``jac``;
the "fd" rows leave ``jac`` out, so scipy builds Jacobians by finite differences (P gradients each). A
scipy run that exceeds ``--scipy-cap`` seconds is stopped and reported with the time it reached. Every row
gives the wall time (best of ``--repeats`` for sadbench; JIT compilation excluded), gradient evaluations,
Jacobians, the largest relative difference of L and ||θ|| from the tight reference over the decades, and
the speed ratio against the fastest sadbench integrator.
"""

import argparse
import time

import numpy as np
from scipy.integrate import solve_ivp

import sadbench
from long_horizon import CASES, agreement, at_decades, best_run, cached_reference, decades, problem


class OutOfTime(Exception):
    pass


def scipy_run(net, X, Y, theta0, horizon, method, exact_jac, cap):
    """solve_ivp with sadbench's gradient (and Hessian); returns (wall, result or None, t reached, counts)."""
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
        result = solve_ivp(fun, (0.0, horizon), theta0, method=method, t_eval=decades(horizon), rtol=1e-8,
                           atol=1e-11, jac=jac if exact_jac else None)
    except OutOfTime:
        result = None
    return time.perf_counter() - start, result, counts


def scipy_agreement(net, X, Y, result, ref, horizon):
    losses = np.array([net.loss_and_grad(theta, X, Y)[0] for theta in result.y.T])
    loss = losses / at_decades(ref.t, ref.loss, horizon) - 1
    norm = np.linalg.norm(result.y, axis=0) / at_decades(ref.t, ref.norm, horizon) - 1
    return float(np.max(np.abs(loss))), float(np.max(np.abs(norm)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), nargs="+", default=["sad1d", "tanh141"])
    parser.add_argument("--activation", default=None)
    parser.add_argument("--integrators", nargs="+", default=["bdf", "auto"])
    parser.add_argument("--scipy", nargs="+", default=["LSODA", "BDF", "Radau"])
    parser.add_argument("--scipy-cap", type=float, default=300.0, help="seconds before a scipy run is stopped")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", default="results/benchmark_cache")
    args = parser.parse_args()
    for case in args.case:
        net, X, Y, theta0, horizon = problem(case, args.activation)
        ref = cached_reference(case, args.activation, args.cache)
        print(f"\n{case}: {net}, P = {net.num_params}, n = {len(X)}, to t = {horizon:g}, rtol 1e-8, atol 1e-11")
        rows = []
        for name in args.integrators:
            start = time.perf_counter()
            sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=1e-2, detectors=None)
            jit = time.perf_counter() - start
            wall, sol = best_run(lambda: sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=horizon,
                                                            rtol=1e-8, atol=1e-11, detectors=None), args.repeats)
            stats = sol.integrator_stats or {}
            hessians = stats.get("bdf", stats).get("jacobian_evaluations", 0)
            rows.append((f"sadbench {name}", wall, sol.n_grad, hessians, *agreement(sol, ref, horizon),
                         f"{sol.status} (JIT {jit:.1f} s)"))
        fastest = min(row[1] for row in rows)
        for method in args.scipy:
            for exact in (True, False):
                wall, result, counts = scipy_run(net, X, Y, theta0, horizon, method, exact, args.scipy_cap)
                label = f"scipy {method} {'exact' if exact else 'fd'}"
                if result is None:
                    rows.append((label, wall, counts["fun"], counts["jac"], np.nan, np.nan,
                                 f"stopped at t = {counts['t']:.3g} after {args.scipy_cap:g} s"))
                else:
                    rows.append((label, wall, result.nfev, result.njev,
                                 *scipy_agreement(net, X, Y, result, ref, horizon), result.message))
        print(f"{'method':>24} {'wall s':>9} {'ratio':>7} {'grads':>9} {'jacs':>6} {'err L':>9} {'err ||θ||':>9}")
        for label, wall, grads, jacs, err_loss, err_norm, status in rows:
            print(f"{label:>24} {wall:9.3f} {wall / fastest:7.1f} {grads:9d} {jacs:6d} {err_loss:9.1e} "
                  f"{err_norm:9.1e}  {status}")


if __name__ == "__main__":
    main()
