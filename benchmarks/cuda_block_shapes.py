"""The block layout's shape on a GPU: µs per member-step for each (points per chunk, threads per member).

:func:`sadbench.cuda.chunk_points` and :func:`sadbench.cuda.block_threads` pick the shape; this script
overrides them with each pair in turn and times RK4 (dt = 0.05) on the canonical problem, GELU
[1, 16, 16, 1] on 64 points, so that their choice can be checked on a new GPU. Each pair is compiled and
warmed up at each size first, and θ is compared with the first pair's (the shape must not change results
beyond rounding).

    python benchmarks/cuda_block_shapes.py --pairs 64x64,64x128,32x32,32x64,64x256,16x64 --sizes 1024,16384
"""

import argparse
import time

import numpy as np
from cuda_speed import N_POINTS, WIDTHS, problem

from sadbench import integrate
from sadbench import cuda as sc
from sadbench.cuda import launch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", default="64x64,64x128,32x32,32x64,64x256,16x64",
                        help="points per chunk x threads per member, comma-separated")
    parser.add_argument("--sizes", default="1024,16384", help="ensemble sizes")
    parser.add_argument("--steps", type=int, default=400, help="RK4 steps timed")
    parser.add_argument("--activation", default="gelu")
    args = parser.parse_args()
    sc.require()
    net, X, Y = problem(args.activation, WIDTHS, N_POINTS)
    sizes = [int(s) for s in args.sizes.split(",")]
    thetas = net.init(seed=0, ensemble=max(sizes))
    first = {}
    print(f"{'points':>6} {'threads':>7} {'E':>6} {'us/member-step':>15} {'max rel diff':>12}")
    for pair in args.pairs.split(","):
        points, threads = (int(v) for v in pair.split("x"))
        launch.chunk_points = lambda geometry, n, points=points: points
        launch.block_threads = lambda geometry, n, E, threads=threads: threads
        for E in sizes:
            run = dict(integrator="rk4", dt=0.05, detectors=None, backend="cuda", cuda_layout="block")
            integrate(net, thetas[:E], X, Y, t_end=0.1, **run)  # compiles this shape
            start = time.perf_counter()
            sol = integrate(net, thetas[:E], X, Y, t_end=0.05 * args.steps, **run)
            wall = time.perf_counter() - start
            reference = first.setdefault(E, sol.theta)
            diff = np.max(np.abs(sol.theta - reference)) / np.max(np.abs(reference))
            print(f"{points:6d} {threads:7d} {E:6d} {1e6 * wall / np.sum(sol.n_steps):15.3f} {diff:12.1e}",
                  flush=True)


if __name__ == "__main__":
    main()
