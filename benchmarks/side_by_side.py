"""sadbench against scipy's BDF and Radau (fed with sadbench's exact gradient and Hessian) and diffrax's
Kvaerno5 (JAX, where installed), side by side in one process, with the accuracy each reached.

    python benchmarks/side_by_side.py                                # SAD 1D to 1e7 and SAD 2D to 1e4
    python benchmarks/side_by_side.py --problem sad2d --solvers "sadbench auto" "scipy BDF"
    python benchmarks/side_by_side.py --problem sad1d --horizon 1e5 --cap 120
    pip install 'sadbench[bench]'                                  # JAX and diffrax for the diffrax row

The problems and runners are benchmarks/asv_bench/peers.py's. Every row: wall time (sadbench: best of
``--repeats``, JIT compilation done beforehand; peers once, diffrax's XLA compilation on a short horizon first
and reported apart), the ratio of its time to sadbench auto's, gradient evaluations, Jacobians (scipy: exact
Hessians; sadbench: Hessians or Lanczos models), Hessian-vector products, and the largest relative
difference of L and of ||θ|| from a tight reference over the decades (sadbench auto at rtol 1e-11, atol
1e-14, cross-checked by its BDF with the dense exact Hessian; cached in ``--cache``). A peer stopped by
``--cap`` shows "≥" before its ratio. All rows use rtol 1e-8, atol 1e-11. The machine's load average is
printed with the table: timings on a shared machine are only comparable within one run.
"""

import argparse
import os
from pathlib import Path

import numpy as np
from asv_bench.peers import PROBLEMS, SOLVERS, agreement, jax_available, run, tight_reference


def cached_reference(name, horizon, cache):
    path = Path(cache) / f"side_by_side_{name}_{horizon:g}.npz"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        ref = tight_reference(name, horizon)
        np.savez(path, **ref)
        print(f"reference for {name} to {horizon:g}: cross-check differs by {ref['cross_check']:.1e} in L")
    with np.load(path) as data:
        return {key: data[key] for key in data}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), nargs="+", default=sorted(PROBLEMS))
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=SOLVERS)
    parser.add_argument("--horizon", type=float, default=None, help="t_end for every row (default: the issue's)")
    parser.add_argument("--cap", type=float, default=600.0, help="seconds before a peer's run is stopped")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", default="results/benchmark_cache")
    args = parser.parse_args()
    solvers = ["sadbench auto"] + [s for s in args.solvers if s != "sadbench auto"]
    if not jax_available() and "diffrax Kvaerno5" in solvers:
        print("JAX/diffrax not installed: the diffrax row is skipped (pip install 'sadbench[bench]')")
        solvers.remove("diffrax Kvaerno5")
    for name in args.problem:
        horizon = args.horizon or PROBLEMS[name][3]
        ref = cached_reference(name, horizon, args.cache)
        load = os.getloadavg()[0]
        rows = {}
        for solver in solvers:
            repeats = args.repeats if solver.startswith("sadbench") else 1
            runs = [run(name, horizon, solver, args.cap) for _ in range(repeats)]
            rows[solver] = min(runs, key=lambda r: r["wall"])
            print(f"  {name} {solver}: {rows[solver]['wall']:.2f} s", flush=True)
        widths, _, n, _ = PROBLEMS[name]
        print(f"\n{name}: GELU {widths}, {n} points, to t = {horizon:g}, rtol 1e-8, atol 1e-11; load average "
              f"{load:.1f} before, {os.getloadavg()[0]:.1f} after; reference cross-check {ref['cross_check']:.1e}")
        print(f"{'solver':>20} {'wall s':>9} {'ratio':>8} {'grads':>8} {'jacs':>6} {'hvps':>7} {'err L':>9} "
              f"{'err ||θ||':>9}  status")
        base = rows["sadbench auto"]["wall"]
        for solver, row in rows.items():
            stopped = row["status"].startswith("stopped")
            err_loss, err_norm = agreement(row["loss"], row["norm"], ref) if "loss" in row else (np.nan, np.nan)
            extra = f" (XLA compilation {row['compile']:.1f} s, {row['steps']} steps)" if "compile" in row else ""
            print(f"{solver:>20} {row['wall']:9.2f} {'≥' if stopped else ''}{row['wall'] / base:7.1f} "
                  f"{row.get('grads', -1):8d} {row.get('jacobians', -1):6d} {row.get('hvps', -1):7d} "
                  f"{err_loss:9.1e} {err_norm:9.1e}  {row['status']}{extra}")


if __name__ == "__main__":
    main()
