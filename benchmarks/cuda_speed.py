"""Speed and accuracy of the CUDA backend on the canonical ensemble problem (issue 5).

GELU and tanh [1, 16, 16, 1], y = x² on 64 grid points of [-1, 1], Xavier-uniform init (member e from seed
e); fixed-step RK4 with dt = 0.05 for 2000 steps, and dopri5 with rtol = atol = 1e-8 to T = 1e4; both
kernel layouts (one thread per member, one block per member) for each ensemble size E.

Reported per run: µs per member-step (wall time / Σ steps of all members), GFLOP/s (gradients evaluated ×
the flops of one gradient, counted below, / wall time), and the largest difference of θ to the CPU backend
relative to max|θ| (first members, same call). Every run is capped at ``--cap`` seconds of wall time (a
run the cap ends is reported over the steps it took, marked ``capped``); kernels are compiled by a short
warm-up call at each size first, so no timing includes compilation. dopri5 is compared with the CPU on a
shorter horizon (``--dopri-check-t``), where both must also take the same accepted and rejected steps.

Run on a machine with an NVIDIA GPU:  ``python benchmarks/cuda_speed.py --out results.txt``.
"""

import argparse
import json
import os
import platform
import time

import numpy as np

from sadbench import Network, integrate
from sadbench import cuda as sc

WIDTHS = [1, 16, 16, 1]
N_POINTS = 64
RK4 = dict(integrator="rk4", dt=0.05, t_end=100.0)
DOPRI5 = dict(integrator="dopri5", rtol=1e-8, atol=1e-8, t_end=1e4)


def gradient_flops(widths, n):
    """Floating-point operations of one gradient on n points, the activations' own cost not counted:
    forward W·a + b, backward δ = Wᵀδ ⊙ σ′ (not through the first layer) and ∇W = δ·aᵀ, ∇b = Σ δ."""
    pairs = list(zip(widths[:-1], widths[1:]))
    macs = sum(fi * fo for fi, fo in pairs)
    per_point = 6 * macs - 2 * pairs[0][0] * pairs[0][1] + 2 * sum(widths[1:]) + sum(widths[1:-1])
    return n * per_point


def problem(activation, widths, n_points):
    X = np.linspace(-1.0, 1.0, n_points)[:, None]
    return Network(widths, activation), X, X**2


def run(net, X, Y, theta0, options, cap, **backend):
    start = time.perf_counter()
    sol = integrate(net, theta0, X, Y, detectors=None, max_wall=cap, **options, **backend)
    return sol, time.perf_counter() - start


def rel_diff(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,64,1024,16384", help="ensemble sizes for RK4")
    parser.add_argument("--dopri-sizes", default="1,64,1024", help="ensemble sizes for dopri5")
    parser.add_argument("--cap", type=float, default=5.0, help="wall-time cap of each run, seconds")
    parser.add_argument("--layouts", default="thread,block", help="kernel layouts to time")
    parser.add_argument("--activations", default="gelu,tanh")
    parser.add_argument("--check", type=int, default=8, help="members compared with the CPU backend")
    parser.add_argument("--dopri-check-t", type=float, default=100.0)
    parser.add_argument("--out", default=None, help="also write the table and a JSON file here")
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)), help="smoke tests: a smaller network")
    parser.add_argument("--points", type=int, default=N_POINTS, help="smoke tests: fewer points")
    args = parser.parse_args()
    sc.require()
    from numba import cuda

    device = "simulator" if sc.simulated() else cuda.get_current_device().name
    if isinstance(device, bytes):
        device = device.decode()
    widths = [int(w) for w in args.widths.split(",")]
    flops = gradient_flops(widths, args.points)
    lines = [f"device {device}; host {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
             f"{flops} flops per gradient ({widths}, {args.points} points)",
             f"{'act':5} {'method':7} {'layout':6} {'E':>6} {'wall s':>8} {'steps/member':>12} "
             f"{'us/member-step':>15} {'GFLOP/s':>9} {'max rel diff':>12}  note"]
    out = open(args.out, "w") if args.out else None  # noqa: SIM115  (written line by line, closed at the end)

    def emit(line):
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    for line in lines:
        emit(line)
    records = []
    layouts = args.layouts.split(",")
    for activation in args.activations.split(","):
        net, X, Y = problem(activation, widths, args.points)
        for name, options, sizes in (("rk4", RK4, args.sizes), ("dopri5", DOPRI5, args.dopri_sizes)):
            sizes = [int(s) for s in sizes.split(",")]
            theta_all = net.init(seed=0, ensemble=max(sizes))
            reference = None
            if name == "rk4":
                reference, cpu_wall = run(net, X, Y, theta_all[: args.check], options, np.inf)
            for layout in layouts:
                for E in sizes:
                    run(net, X, Y, theta_all[:E], dict(options, t_end=0.1), np.inf, backend="cuda",
                        cuda_layout=layout)  # compiles the kernel (its threads per member depend on E)
                    sol, wall = run(net, X, Y, theta_all[:E], options, args.cap, backend="cuda", cuda_layout=layout)
                    steps = np.atleast_1d(sol.n_steps).astype(float)
                    grads = np.atleast_1d(sol.n_grad).astype(float)
                    capped = bool(np.any(np.atleast_1d(sol.status) == "wall_time"))
                    diff = float("nan")
                    if reference is not None and not capped:
                        m = min(E, args.check)
                        diff = rel_diff(np.atleast_2d(sol.theta)[:m], reference.theta[:m])
                    rec = dict(activation=activation, method=name, layout=layout, E=E, wall=wall,
                               steps_per_member=float(steps.mean()), us_per_member_step=1e6 * wall / steps.sum(),
                               gflops=grads.sum() * flops / wall / 1e9, max_rel_diff=diff, capped=capped)
                    records.append(rec)
                    line = (f"{activation:5} {name:7} {layout:6} {E:6d} {wall:8.2f} {rec['steps_per_member']:12.0f} "
                            f"{rec['us_per_member_step']:15.3f} {rec['gflops']:9.1f} {diff:12.2e}  "
                            f"{'capped' if capped else ''}")
                    emit(line)
            if name == "rk4":
                line = (f"{activation:5} {name:7} {'cpu':6} {args.check:6d} {cpu_wall:8.2f} "
                        f"{np.mean(reference.n_steps):12.0f} {1e6 * cpu_wall / np.sum(reference.n_steps):15.3f} "
                        f"{np.sum(reference.n_grad) * flops / cpu_wall / 1e9:9.1f}  (CPU backend, this host)")
                emit(line)
        # dopri5 accuracy and step sequences on a horizon both backends finish
        theta = net.init(seed=0, ensemble=args.check)
        short = dict(DOPRI5, t_end=args.dopri_check_t)
        cpu, _ = run(net, X, Y, theta, short, np.inf)
        for layout in layouts:
            gpu, _ = run(net, X, Y, theta, short, np.inf, backend="cuda", cuda_layout=layout)
            same = bool(np.array_equal(gpu.n_steps, cpu.n_steps) and np.array_equal(gpu.n_rejected, cpu.n_rejected))
            line = (f"{activation:5} dopri5 to t={args.dopri_check_t:g}, {layout}: max rel diff of θ "
                    f"{rel_diff(gpu.theta, cpu.theta):.2e}, loss {rel_diff(gpu.loss_final, cpu.loss_final):.2e}, "
                    f"same accepted/rejected steps as the CPU: {same} (mean {np.mean(cpu.n_steps):.0f} steps)")
            emit(line)
            records.append(dict(activation=activation, method="dopri5-check", layout=layout,
                                max_rel_diff=rel_diff(gpu.theta, cpu.theta), same_steps=same))
    if out:
        out.close()
        with open(os.path.splitext(args.out)[0] + ".json", "w") as fh:
            json.dump(records, fh, indent=1)

if __name__ == "__main__":
    main()
