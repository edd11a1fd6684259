"""Measure what sadbench's cost model (sadbench/cost.py, docs/cost-model.md) is built from.

    python benchmarks/cost_model.py kernels            # gradient, HVP, Hessian, eigh against n and P
    python benchmarks/cost_model.py flows --n 10000     # one SAD flow per dimension, decade by decade
    python benchmarks/cost_model.py predict suites/sad_paper.yaml   # the model's estimate of a suite

``kernels``: seconds per gradient, exact Hessian-vector product, dense Hessian and eigendecomposition
(``numpy.linalg.eigh``, one OpenBLAS thread as in the integrators) for the SAD paper's networks and a small
one, at several n; CPU time of the calling thread, best of ``--repeats`` (on a shared machine CPU time is
what the code costs, wall time also what the neighbours cost); and the least-squares fit of the gradient's
time to ``n·(a·MACs + b·H) + c`` (MACs = Σ fan_in·fan_out, H = hidden units) that sadbench.cost uses.

``flows``: SAD 1D, 2D and 4D (GELU, Xavier-uniform, seed 0) with ``--integrator`` at ``--rtol``/``--atol``
to ``--horizon``, resumed decade by decade: the steps, gradient evaluations and Hessian-vector products
(gradient differences, each one gradient) of every decade, and its CPU seconds. "gradient equivalents" =
gradients + products, the unit sadbench.cost counts in.
"""

import argparse
import json
import time

import numpy as np

import sadbench
from sadbench import cost
from sadbench.solvers.blas import one_blas_thread

NETWORKS = {"sad1d": [1, 10, 20, 10, 1], "sad2d": [2, 20, 40, 20, 1], "sad4d": [4, 20, 40, 20, 1],
            "small": [1, 16, 16, 1]}


def best_cpu(fn, repeats):
    fn()
    best = np.inf
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def data(widths, n, seed=0):
    preset = {1: "sad1d", 2: "sad2d", 4: "sad4d"}[widths[0]]
    X, Y = sadbench.get_registry().get("target", "polynomial")(seed=seed, preset=preset, n=n, sampling="uniform")
    return np.array(X), np.array(Y)


def kernels(args):
    rows = []
    for activation in args.activations:
        for name, widths in NETWORKS.items():
            for n in args.n:
                net = sadbench.Network(widths, activation=activation)
                X, Y = data(widths, n)
                theta = net.init(seed=0, scheme="xavier_uniform", bias=0.0)
                rhs, hvp, hessian = net.kernels("mse").functions
                w, b, work = net.problem_arrays(X, 1)
                prob = (X, Y, w, b, work[0])
                P = net.num_params
                out, v = np.empty(P), np.random.default_rng(0).normal(size=P)
                row = {"activation": activation, "network": name, "P": P, "n": n,
                       "macs": cost.multiply_adds(widths), "hidden": sum(widths[1:-1]),
                       "gradient": best_cpu(lambda: rhs(prob, theta, out), args.repeats),
                       "hvp": best_cpu(lambda: hvp(prob, theta, v, out), args.repeats)}
                if n * P <= args.max_hessian:
                    H = np.empty((P, P))
                    row["hessian"] = best_cpu(lambda: hessian(prob, theta, H), 1)
                rows.append(row)
                print(json.dumps(row), flush=True)
    with one_blas_thread():
        for P in args.eigh:
            A = np.random.default_rng(1).normal(size=(P, P))
            A = A + A.T
            print(json.dumps({"eigh_P": P, "seconds": best_cpu(lambda: np.linalg.eigh(A), 1)}), flush=True)
    for activation in args.activations:
        chosen = [r for r in rows if r["activation"] == activation]
        design = np.array([[r["n"] * r["macs"], r["n"] * r["hidden"], 1.0] for r in chosen])
        seconds = np.array([r["gradient"] for r in chosen])
        fit, *_ = np.linalg.lstsq(design / seconds[:, None], np.ones(len(chosen)), rcond=None)  # relative
        print(f"{activation}: gradient seconds ≈ n·({fit[0]:.3e}·MACs + {fit[1]:.3e}·H) + {fit[2]:.2e}")
        for r, predicted in zip(chosen, design @ fit):
            print(f"  {r['network']:>6} n={r['n']:>6}: measured {1e3 * r['gradient']:8.3f} ms, fitted "
                  f"{1e3 * predicted:8.3f} ms, model {1e3 * cost.gradient_seconds(NETWORKS[r['network']], r['n'], activation):8.3f} ms; "
                  f"HVP/gradient {r['hvp'] / r['gradient']:.2f}")


def flows(args):
    for preset in args.presets:
        widths = NETWORKS[preset]
        net = sadbench.Network(widths, activation=args.activation)
        X, Y = data(widths, args.n)
        theta0 = net.init(seed=0, scheme="xavier_uniform", gain=1.0, bias=0.0)
        options = dict(integrator=args.integrator, rtol=args.rtol, atol=args.atol, detectors=None)
        sadbench.integrate(net, theta0, X, Y, t_end=1e-2, **options)
        sol, before = None, {"steps": 0, "grads": 0, "hvps": 0}
        for T in 10.0 ** np.arange(0, round(np.log10(args.horizon)) + 1):
            start = time.process_time()
            sol = (sadbench.integrate(net, theta0, X, Y, t_end=T, **options) if sol is None
                   else sadbench.resume(sol, T, detectors=None))
            seconds = time.process_time() - start
            stats = sol.integrator_stats.get("bdf", sol.integrator_stats)
            now = {"steps": int(sol.n_steps), "grads": int(sol.n_grad), "hvps": stats.get("hessian_vector_products", 0)}
            decade = {k: now[k] - before[k] for k in now}
            before = now
            row = {"preset": preset, "n": args.n, "P": net.num_params, "t": T, "cpu": seconds, **decade,
                   "gradient_equivalents": decade["grads"] + decade["hvps"], "loss": float(sol.loss_final),
                   "norm": float(np.linalg.norm(sol.theta)), "status": sol.status}
            print(json.dumps(row), flush=True)


def predict(args):
    from sadbench.suites.suite import load_suite

    suite = load_suite(args.suite)
    estimate = cost.estimate_suite(suite, cores=args.cores)
    print(cost.describe(estimate))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    k = sub.add_parser("kernels")
    k.add_argument("--activations", nargs="+", default=["gelu", "tanh"])
    k.add_argument("--n", type=int, nargs="+", default=[256, 2000, 10000])
    k.add_argument("--eigh", type=int, nargs="+", default=[461, 1741])
    k.add_argument("--max-hessian", type=float, default=3e6, help="dense Hessians only where n·P is below this")
    k.add_argument("--repeats", type=int, default=10)
    f = sub.add_parser("flows")
    f.add_argument("--presets", nargs="+", default=["sad1d", "sad2d", "sad4d"])
    f.add_argument("--activation", default="gelu")
    f.add_argument("--n", type=int, default=10000)
    f.add_argument("--integrator", default="auto")
    f.add_argument("--rtol", type=float, default=1e-6)
    f.add_argument("--atol", type=float, default=1e-8)
    f.add_argument("--horizon", type=float, default=1e7)
    p = sub.add_parser("predict")
    p.add_argument("suite")
    p.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    {"kernels": kernels, "flows": flows, "predict": predict}[args.command](args)


if __name__ == "__main__":
    main()
