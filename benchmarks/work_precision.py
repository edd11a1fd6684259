"""Work–precision of sadbench's integrators on a long-horizon case: error against gradient evaluations and
against wall time over a range of tolerances, as a table (CSV) and a plot (PNG and SVG).

    python benchmarks/work_precision.py --case tanh141 --out results/work_precision
    python benchmarks/work_precision.py --case sad1d --integrators bdf auto --rtols 1e-6 1e-7 1e-8 1e-9
"""

import argparse
import csv
from pathlib import Path

from long_horizon import CASES, cached_reference, problem
from sadbench.accuracy import plot_work_precision, work_precision


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=sorted(CASES), default="tanh141")
    parser.add_argument("--activation", default=None)
    parser.add_argument("--integrators", nargs="+", default=["bdf", "auto", "ros34pw2", "rkc"])
    parser.add_argument("--rtols", type=float, nargs="+", default=[1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--max-wall-time", type=float, default=120.0, help="per run")
    parser.add_argument("--cache", default="results/benchmark_cache")
    parser.add_argument("--out", default="results/work_precision")
    args = parser.parse_args()
    net, X, Y, theta0, horizon = problem(args.case, args.activation)
    ref = cached_reference(args.case, args.activation, args.cache)
    rows = work_precision(net, theta0, X, Y, ref, integrators=args.integrators, rtols=args.rtols,
                          repeats=args.repeats, max_wall=args.max_wall_time)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{args.case}_{net.activation.name}"
    with open(stem.with_suffix(".csv"), "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(f"{row['integrator']:>9} rtol {row['rtol']:7.0e}: {row['status']:>9} {row['wall_time']:8.3f} s "
              f"{row['n_grad']:8d} grads {row['n_hvp']:6d} hvps {row['n_hessian']:5d} Hessians  "
              f"err L {row['err_loss']:8.1e}  err θ {row['err_theta']:8.1e}")
    title = f"{args.case} ({net.activation.name}, P = {net.num_params}) to t = {horizon:g}"
    paths = plot_work_precision(rows, stem, title=title)
    print("wrote", stem.with_suffix(".csv"), *paths)


if __name__ == "__main__":
    main()
