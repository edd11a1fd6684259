"""sadbench's stiff integrators against scipy's solve_ivp (LSODA, BDF, Radau) on the same cases, in one run.

    python benchmarks/compare_scipy.py                       # SAD 1D GELU to 1e7, then tanh 1-4-1 to 1e8
    python benchmarks/compare_scipy.py --case sad1d --scipy LSODA --scipy-cap 600
    python benchmarks/compare_scipy.py --case sad1d --horizon 1e5   # every method to a shorter horizon

scipy gets sadbench's compiled gradient as ``fun`` and, in the "exact" rows, the exact Hessian as ``jac``;
the "fd" rows leave ``jac`` out, so scipy builds Jacobians by finite differences (P gradients each, as in
issue 3's 170 s for LSODA on SAD 1D). scipy runs with one OpenBLAS thread, as sadbench does
(``--scipy-blas default`` keeps OpenBLAS's default threads: on a small busy machine they contend, and
that, not the algorithm, made the issue's 170 s). All rows use rtol 1e-8, atol 1e-11 and the same horizon
(``--horizon``, default the case's). A scipy run that exceeds ``--scipy-cap`` seconds is stopped and
reported with the time it reached; its ratio is then a lower bound ("≥"). Every row gives the wall time
(best of ``--repeats`` for sadbench, JIT compilation excluded and shown apart; scipy once), gradient
evaluations, Jacobians (Hessians for sadbench), the largest relative difference of L and ||θ|| from the
tight reference over the decades, and the ratio of its wall time to the fastest sadbench integrator's.
"""

import argparse

import numpy as np
from long_horizon import (
    CASES,
    agreement,
    best_run,
    cached_reference,
    first_call,
    problem,
    scipy_agreement,
    scipy_run,
)

import sadbench

RTOL, ATOL = 1e-8, 1e-11


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), nargs="+", default=["sad1d", "tanh141"])
    parser.add_argument("--activation", default=None)
    parser.add_argument("--horizon", type=float, default=None, help="t_end for every row (default: the case's)")
    parser.add_argument("--integrators", nargs="+", default=["bdf", "auto"])
    parser.add_argument("--scipy", nargs="+", default=["LSODA", "BDF", "Radau"])
    parser.add_argument("--jac", choices=["exact", "fd"], nargs="+", default=["exact", "fd"],
                        help="scipy's Jacobians: sadbench's exact Hessian and/or finite differences")
    parser.add_argument("--scipy-cap", type=float, default=300.0, help="seconds before a scipy run is stopped")
    parser.add_argument("--scipy-blas", choices=["one", "default"], default="one",
                        help="OpenBLAS threads for scipy: one (as sadbench) or OpenBLAS's default")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", default="results/benchmark_cache")
    args = parser.parse_args()
    for case in args.case:
        net, X, Y, theta0, case_horizon = problem(case, args.activation)
        horizon = args.horizon or case_horizon
        jit = {name: first_call(net, theta0, X, Y, name) for name in args.integrators}
        ref = cached_reference(case, args.activation, args.cache)
        print(f"\n{case}: {net}, P = {net.num_params}, n = {len(X)}, to t = {horizon:g}, rtol {RTOL:g}, "
              f"atol {ATOL:g}; scipy with {args.scipy_blas} OpenBLAS thread(s)")
        rows = []
        for name in args.integrators:
            wall, sol = best_run(lambda: sadbench.integrate(net, theta0, X, Y, integrator=name, t_end=horizon,
                                                            rtol=RTOL, atol=ATOL, detectors=None), args.repeats)
            stats = sol.integrator_stats or {}
            hessians = stats.get("bdf", stats).get("jacobian_evaluations", 0)
            rows.append((f"sadbench {name}", wall, sol.n_grad, hessians, *agreement(sol, ref, horizon),
                         f"{sol.status} (JIT/first call {jit[name]:.2f} s)"))
        fastest = min(row[1] for row in rows)
        for method in args.scipy:
            for jac in args.jac:
                wall, result, counts = scipy_run(net, X, Y, theta0, horizon, method, jac == "exact", args.scipy_cap,
                                                 RTOL, ATOL, one_thread=args.scipy_blas == "one")
                label = f"scipy {method} {jac}"
                if result is None:
                    rows.append((label, wall, counts["fun"], counts["jac"], np.nan, np.nan,
                                 f"stopped at t = {counts['t']:.3g} after {args.scipy_cap:g} s"))
                else:
                    rows.append((label, wall, result.nfev, result.njev,
                                 *scipy_agreement(net, X, Y, result, ref, horizon), result.message))
                print(f"  {label}: {wall:.1f} s", flush=True)
        print(f"{'method':>24} {'wall s':>9} {'ratio':>8} {'grads':>9} {'jacs':>6} {'err L':>9} {'err ||θ||':>9}")
        for label, wall, grads, jacs, err_loss, err_norm, status in rows:
            ratio = f"{'≥' if status.startswith('stopped') else ''}{wall / fastest:.1f}"
            print(f"{label:>24} {wall:9.3f} {ratio:>8} {grads:9d} {jacs:6d} {err_loss:9.1e} {err_norm:9.1e}  {status}")


if __name__ == "__main__":
    main()
