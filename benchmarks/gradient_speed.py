"""µs per gradient evaluation, one member and per member of an ensemble, against the matrix-product roofline.

Everything is timed inside a compiled loop that calls the problem's ``rhs`` through the same first-class
function type the driver uses (``sadbench.signatures.RHS``), so neither Python nor thread launches are
counted per gradient:

- ``euler``: one gradient per step plus an O(P) update (µs per gradient);
- ``rk4``: classical Runge–Kutta, four gradients per step (µs per member-step, as in issue 5).

The floating-point operations per gradient are counted from the architecture (matrix products of the
forward pass, the weight gradients and the δ propagation, plus bias, σ′ and loss terms; the activation's own
evaluation is not counted) and compared with a numpy float64 matrix product on the same threads.

    python benchmarks/gradient_speed.py --activation gelu --widths 1 16 16 1 --points 64 --ensemble 1024
    python benchmarks/gradient_speed.py --precision float32      # the gradient passes in float32 arithmetic
    python benchmarks/gradient_speed.py --compile-times          # seconds to build each activation × loss
    python benchmarks/gradient_speed.py --hessian --widths 1 10 20 10 1 --points 64
    python benchmarks/gradient_speed.py --breakdown              # ns per pass of one member's gradient
    python benchmarks/gradient_speed.py --thread-scaling         # one thread against all, kernel and matmul

Other processes may load the machine: every figure is the best of ``--repeats`` runs, and the CPU time
(summed over threads) is printed beside the wall-clock time, with GFLOP per CPU-second for the kernel and the
matrix product alike: on a loaded machine that ratio is the one to read. At E = 1 the idle second thread
may spin for a while, which inflates the CPU time a little.
"""

import argparse
import subprocess
import sys
import time

import numpy as np
from numba import get_num_threads, njit, prange, set_num_threads, types

import sadbench
from sadbench.model import blocks, elementwise, gradient, layout, precision
from sadbench import signatures as sig
from sadbench.solvers.blas import one_blas_thread
from sadbench.model.precision import PRECISIONS

RHS_FN = types.FunctionType(sig.RHS)
LOOP = types.void(RHS_FN, sig.MATRIX, sig.MATRIX, types.int64[::1], types.int64, sig.MATRIX, sig.MATRIX,
                  sig.MATRIX, sig.MATRIX, types.int64, types.float64)


@njit(LOOP, parallel=True)
def euler_loop(rhs, X, Y, widths, bias, work, thetas, grads, scratch, steps, dt):
    for e in prange(thetas.shape[0]):
        prob = (X, Y, widths, bias, work[e])
        theta, g = thetas[e], grads[e]
        for _ in range(steps):
            rhs(prob, theta, g)
            for p in range(theta.size):
                theta[p] += dt * g[p]


@njit(LOOP, parallel=True)
def rk4_loop(rhs, X, Y, widths, bias, work, thetas, grads, scratch, steps, dt):
    for e in prange(thetas.shape[0]):
        prob = (X, Y, widths, bias, work[e])
        y, k = thetas[e], grads[e]
        P = y.size
        acc = scratch[e, :P]
        stage = scratch[e, P:]
        for _ in range(steps):
            rhs(prob, y, k)
            for p in range(P):
                acc[p] = k[p]
                stage[p] = y[p] + 0.5 * dt * k[p]
            rhs(prob, stage, k)
            for p in range(P):
                acc[p] += 2.0 * k[p]
                stage[p] = y[p] + 0.5 * dt * k[p]
            rhs(prob, stage, k)
            for p in range(P):
                acc[p] += 2.0 * k[p]
                stage[p] = y[p] + dt * k[p]
            rhs(prob, stage, k)
            for p in range(P):
                y[p] += dt / 6.0 * (acc[p] + k[p])


#: Calls per timing of one pass in --breakdown.
PASS_REPS = 20000
#: The gradient pass's argument types (X, Y, widths, bias, work, θ, ∇L, fdf, terms): the element-wise loops as
#: first-class functions, matching the passes' compiled (and cached) overloads.
GRADIENT_ARGS = (sig.MATRIX, sig.MATRIX, precision.WIDTHS, types.int64, precision.VEC, precision.VEC, precision.VEC,
                 precision.ACT_FN, precision.LOSS_FN)
#: The per-chunk passes and the products as first-class functions, as the gradient's entry points pass them.
CHUNK_PASSES, PRODUCTS = gradient.chunk_passes("float64"), blocks.products("float64")
PASSES = ("whole gradient", "load_chunk", "propagate", "loss_terms", "backward", "activation loop, one layer",
          "largest layer: W·A", "largest layer: Wᵀ·δ", "largest layer: δ·Aᵀ")


@njit(types.void(types.int64, *GRADIENT_ARGS, types.int64, precision.MAT, precision.MAT, precision.MAT))
def pass_loop(which, X, Y, widths, bias, work, theta, grad, fdf, terms, reps, W, A, D):
    """``reps`` calls of one pass (an index into PASSES) over the first chunk of points; the last three time
    the largest layer's products alone, on W (out × in), A (in × c) and δ (out × c)."""
    n = X.shape[0]
    lay = layout.layout(widths, n)
    c = lay[-1]
    z = work[lay[2] : lay[2] + widths[1] * c]
    a = work[lay[3] : lay[3] + widths[1] * c]
    g = work[lay[4] : lay[4] + widths[1] * c]
    Z, back, G = np.empty_like(D), np.empty_like(A), np.zeros_like(W)
    b_values, sums = np.zeros(W.shape[0]), np.zeros(W.shape[0])  # W·A's bias; δ·Aᵀ's row sums
    for _ in range(reps):
        if which == 0:
            gradient.loss_grad_pass(X, Y, widths, bias, work, theta, grad, -1.0, fdf, terms, CHUNK_PASSES, PRODUCTS)
        elif which == 1:
            gradient.load_chunk(X, Y, widths, work, 0, c)
        elif which == 2:
            gradient.propagate(theta, widths, bias, work, n, c, fdf, PRODUCTS)
        elif which == 3:
            gradient.loss_terms(widths, work, n, c, -1.0 / n, terms, False)
        elif which == 4:
            gradient.backward(theta, widths, bias, work, n, c, grad, True, PRODUCTS)
        elif which == 5:
            fdf(z, a, g)
        elif which == 6:
            blocks.matmul(W, A, Z, False, 2, b_values)
        elif which == 7:
            blocks.matmul(W, D, back, True, 1, b_values)
        else:
            blocks.outer_acc(D, A, G, sums)


def time_passes(args):
    """ns per pass of one member's float64 gradient, each pass in its own compiled loop (so the sum of the
    parts need not equal the whole: each loop keeps its own data in cache)."""
    net, X, Y = problem(args)
    spec, loss = net.activation, sadbench.get_registry().get("loss", args.loss)
    fdf = elementwise.activation_loop(spec.f, spec.df)
    terms = elementwise.loss_loop(loss.value, loss.d1, loss.d2)
    widths, bias, work = net.problem_arrays(X, 1)
    theta, grad = net.init(seed=0), np.zeros(net.num_params)
    call = (X, np.ascontiguousarray(Y), widths, bias, work[0], theta, grad, fdf, terms)
    c = layout.layout(widths, X.shape[0])[-1]
    layer = int(np.argmax(widths[:-1] * widths[1:]))
    rng = np.random.default_rng(0)
    W = rng.standard_normal((widths[layer + 1], widths[layer]))
    products = (W, rng.standard_normal((widths[layer], c)), rng.standard_normal((widths[layer + 1], c)))
    print(f"{args.activation} × {args.loss}, widths {args.widths}, n = {args.points}; passes over one chunk of "
          f"{c} points, the whole gradient over all {args.points}")
    whole = None
    for which, name in enumerate(PASSES):
        pass_loop(which, *call, 1, *products)
        seconds = best_of(lambda: pass_loop(which, *call, PASS_REPS, *products), args.repeats) / PASS_REPS
        whole = whole or seconds
        rate = ""
        if which >= 6:
            rate = f", {2 * W.size * c / seconds / 1e9:.1f} GFLOP/s"
        print(f"{name:28s} {seconds * 1e9:9.0f} ns  ({100 * seconds / whole:5.1f}% of the whole{rate})")


def gradient_flops(widths, n):
    """Floating-point operations of one gradient (the activation's own evaluation not counted)."""
    w = np.asarray(widths)
    products = 2 * n * int((w[:-1] * w[1:]).sum())  # forward
    products += 2 * n * int((w[:-1] * w[1:]).sum())  # weight gradients
    products += 2 * n * int((w[1:-1] * w[2:]).sum())  # δ propagation (not into the input layer)
    pointwise = 2 * n * int(w[1:].sum()) + n * int(w[1:-1].sum()) + 3 * n * int(w[-1])
    return products + pointwise


def matmul_gflops(size=2048, repeats=5):
    """GFLOP/s of a float64 matrix product on numpy's threads: per wall-clock second, and per CPU-second (the
    sum over threads, which other processes' load inflates far less)."""
    a = np.random.default_rng(0).standard_normal((size, size))
    b = np.random.default_rng(1).standard_normal((size, size))
    a @ b
    wall, cpu = best_wall_cpu(lambda: a @ b, repeats)
    return 2 * size**3 / wall / 1e9, 2 * size**3 / cpu / 1e9


def best_of(fn, repeats):
    """Best wall-clock seconds of ``repeats`` calls."""
    return best_wall_cpu(fn, repeats)[0]


def best_wall_cpu(fn, repeats):
    """Best wall-clock and best CPU seconds (summed over threads: robust to other processes' load)."""
    wall = cpu = np.inf
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def problem(args):
    net = sadbench.Network(args.widths, activation=args.activation)
    X = np.linspace(-1, 1, args.points)[:, None].repeat(args.widths[0], axis=1)
    Y = (X[:, :1] ** 2).repeat(args.widths[-1], axis=1)
    if sadbench.get_registry().get("loss", args.loss).labels == "sign":
        Y = np.where(Y > 0.3, 1.0, -1.0)
    return net, X, Y


def loop_runner(loop, rhs, net, X, Y, members, steps):
    """A call that runs ``loop`` (:func:`euler_loop`, :func:`rk4_loop`) for ``steps`` steps of ``members``
    members, each time from the same initial ensemble."""
    thetas0 = net.init(seed=0, ensemble=members)
    widths, bias, work = net.problem_arrays(X, members)
    thetas, grads = thetas0.copy(), np.zeros_like(thetas0)
    scratch = np.zeros((members, 2 * net.num_params))

    def run():
        thetas[:] = thetas0
        loop(rhs, X, Y, widths, bias, work, thetas, grads, scratch, steps, 1e-3)

    return run


def time_kernels(args):
    net, X, Y = problem(args)
    start = time.perf_counter()
    kernels = net.kernels(args.loss, args.precision)
    print(f"{args.activation} × {args.loss}, widths {args.widths}, n = {args.points}, P = {net.num_params}, "
          f"{args.precision}, {get_num_threads()} threads")
    print(f"build kernels (compile): {time.perf_counter() - start:.2f} s")
    rhs = kernels.functions[0]
    flops = gradient_flops(args.widths, args.points)
    roofline, roofline_cpu = matmul_gflops()
    if args.skip_single:
        args.steps_single = 0
    print(f"flops per gradient: {flops}; numpy float64 matmul: {roofline:.1f} GFLOP/s, "
          f"{roofline_cpu:.1f} GFLOP per CPU-second")
    for members, steps in ((1, args.steps_single), (args.ensemble, args.steps_ensemble)):
        if steps == 0:
            continue
        for name, loop, per_step in (("euler", euler_loop, 1), ("rk4", rk4_loop, 4)):
            run = loop_runner(loop, rhs, net, X, Y, members, steps)
            run()
            wall, cpu = best_wall_cpu(run, args.repeats)
            seconds = wall / steps / members
            gflops = per_step * flops / seconds / 1e9
            what = "gradient" if per_step == 1 else "RK4 step"
            cpu_seconds = cpu / steps / members
            cpu_rate = per_step * flops / cpu_seconds / 1e9
            print(f"E = {members:5d} {name:5s}: {seconds * 1e6:8.2f} µs per {what} per member, {gflops:6.1f} GFLOP/s "
                  f"({100 * gflops / roofline:4.1f}% of matmul); CPU {cpu_seconds * 1e6:8.2f} µs, "
                  f"{cpu_rate:5.1f} GFLOP per CPU-second ({100 * cpu_rate / roofline_cpu:4.1f}% of matmul's)")


def thread_scaling(args):
    """The ensemble's RK4 loop on one thread and on all of them, timed in turn (``--repeats`` rounds, best of
    each), beside numpy's matmul on one BLAS thread and on all: on a machine whose cores slow each other
    down, the two speedups differ (µs per gradient per core: equal on one and on all threads means perfect
    scaling)."""
    net, X, Y = problem(args)
    rhs = net.kernels(args.loss, args.precision).functions[0]
    threads = get_num_threads()
    integrate_ensemble = loop_runner(rk4_loop, rhs, net, X, Y, args.ensemble, args.steps_ensemble)

    def run(count):
        set_num_threads(count)
        start = time.perf_counter()
        integrate_ensemble()
        return time.perf_counter() - start

    counts = (1, threads)
    for count in counts:
        run(count)
    best = dict.fromkeys(counts, np.inf)
    for _ in range(args.repeats):
        for count in counts:
            best[count] = min(best[count], run(count))
    set_num_threads(threads)
    with one_blas_thread():
        matmul_one = matmul_gflops(repeats=args.repeats)[0]
    matmul_all = matmul_gflops(repeats=args.repeats)[0]
    gradients = 4 * args.steps_ensemble * args.ensemble
    per_core = {count: seconds * count / gradients for count, seconds in best.items()}
    print(f"{args.activation}, widths {args.widths}, n = {args.points}, E = {args.ensemble}, RK4, "
          f"best of {args.repeats} rounds")
    print(f"1 thread:   {per_core[1] * 1e6:7.2f} µs per gradient; {threads} threads: "
          f"{per_core[threads] * 1e6:7.2f} µs per gradient per core; speedup {best[1] / best[threads]:.2f}×")
    print(f"numpy matmul: {matmul_one:.1f} GFLOP/s on 1 thread, {matmul_all:.1f} on {threads}; "
          f"speedup {matmul_all / matmul_one:.2f}×")


def time_hessian(args):
    net, X, Y = problem(args)
    kernels = net.kernels(args.loss)
    theta = net.init(seed=0)
    _, hvp, hessian = kernels.functions
    widths, bias, work = net.problem_arrays(X, 1)
    prob = (X, np.ascontiguousarray(Y), widths, bias, work[0])
    H = np.empty((net.num_params, net.num_params))
    v = np.random.default_rng(0).standard_normal(net.num_params)
    out = np.empty(net.num_params)
    hvp(prob, theta, v, out)
    hessian(prob, theta, H)
    t_hvp, c_hvp = best_wall_cpu(lambda: [hvp(prob, theta, v, out) for _ in range(100)], args.repeats)
    t_h, c_h = best_wall_cpu(lambda: hessian(prob, theta, H), args.repeats)
    print(f"{args.activation} × {args.loss}, widths {args.widths}, n = {args.points}, P = {net.num_params}")
    print(f"hvp: {t_hvp * 1e4:.1f} µs (CPU {c_hvp * 1e4:.1f} µs); dense Hessian: {t_h * 1e3:.2f} ms "
          f"(CPU {c_h * 1e3:.2f} ms)")


COMPILE_SNIPPET = """
import time, sadbench
net = sadbench.Network([2, 3, 1], activation={a!r})
start = time.perf_counter()
kernels = net.kernels({l!r})
kernels.rhs, kernels.loss_grad, kernels.forward, kernels.second_order  # each is built on first use
print(time.perf_counter() - start)
"""


def compile_times(args):
    """Seconds to build the kernels of each activation × loss (gradient, forward pass, Hessian), each in a fresh
    process (import excluded)."""
    registry = sadbench.get_registry()
    activations = args.compile_activations or [e.spec.name for e in registry.entries("activation")]
    losses = args.compile_losses or [e.spec.name for e in registry.entries("loss")]
    for a in activations:
        for l in losses:
            out = subprocess.run([sys.executable, "-c", COMPILE_SNIPPET.format(a=a, l=l)], capture_output=True,
                                 text=True, check=True)
            print(f"{a:12s} {l:12s} {float(out.stdout.strip().splitlines()[-1]):6.2f} s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", default="gelu")
    parser.add_argument("--loss", default="mse")
    parser.add_argument("--widths", type=int, nargs="+", default=[1, 16, 16, 1])
    parser.add_argument("--points", type=int, default=64)
    parser.add_argument("--ensemble", type=int, default=1024)
    parser.add_argument("--steps-single", type=int, default=20000)
    parser.add_argument("--steps-ensemble", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--precision", choices=PRECISIONS, default="float64",
                        help="working precision of the gradient passes (not --hessian's)")
    parser.add_argument("--skip-single", action="store_true", help="only the ensemble")
    parser.add_argument("--hessian", action="store_true", help="time hvp and the dense Hessian instead")
    parser.add_argument("--breakdown", action="store_true", help="ns per pass of one member's gradient instead")
    parser.add_argument("--thread-scaling", action="store_true",
                        help="the ensemble's RK4 loop and numpy's matmul on one thread and on all, in turn")
    parser.add_argument("--compile-times", action="store_true", help="time kernel builds in fresh processes")
    parser.add_argument("--compile-activations", nargs="*")
    parser.add_argument("--compile-losses", nargs="*")
    args = parser.parse_args()
    if args.compile_times:
        compile_times(args)
    elif args.hessian:
        time_hessian(args)
    elif args.breakdown:
        time_passes(args)
    elif args.thread_scaling:
        thread_scaling(args)
    else:
        time_kernels(args)


if __name__ == "__main__":
    main()
