"""sadbench against JAX + diffrax, PyTorch (torch.func + vmap; torchdiffeq) and numpy + scipy, in one process.

The canonical problem of issue 5: GELU and tanh [1, 16, 16, 1], y = x² on 64 grid points of [−1, 1], mse,
Xavier-uniform initial ensembles (sadbench's, seeds 0..E−1, handed to every implementation), integrated by

- ``rk4``: classical Runge–Kutta, dt = 0.05, 2000 steps (to t = 100);
- ``dopri5``: Dormand–Prince 5(4), rtol = atol = 1e-8, to t = 1e4 (each member on its own step size, except
  torchdiffeq, whose batch shares one step size and one error norm);

for E = 1, 64, 1024. Before any time is reported the implementations must agree with sadbench: the initial
loss of every member to 1e-12 relative, the final loss to 1e-9 relative (rk4, the same arithmetic) or to
``--dopri5-agreement`` (dopri5: the controllers differ, so the step sequences do). Each implementation is
run once to compile (JIT/XLA/first call, reported) and then timed (best of ``--repeats``). GFLOP/s count the
matrix products and element-wise terms of the gradient (benchmarks/gradient_speed.py) against a float64
matrix product measured in the same process.

    pip install jax diffrax torch torchdiffeq      # optional: peers that are missing are skipped
    python benchmarks/head_to_head.py                                  # everything
    python benchmarks/head_to_head.py --method rk4 --members 1024 --activation gelu
    python benchmarks/head_to_head.py --backends cpu cuda              # with sadbench's CUDA backend
    JAX_PLATFORMS=cpu python benchmarks/head_to_head.py                # keep JAX off a GPU
    python benchmarks/head_to_head.py --backends cpu cuda --torch-device cuda   # everything on a GPU machine
"""

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

import numpy as np

import sadbench
from gradient_speed import gradient_flops, matmul_gflops

WIDTHS = [1, 16, 16, 1]
POINTS = 64
RK4_DT, RK4_STEPS = 0.05, 2000
DOPRI5_TOL, DOPRI5_T = 1e-8, 1e4
STAGES = {"rk4": 4, "dopri5": 6}  # gradients per accepted step (dopri5: first-same-as-last)


def problem(activation, members):
    net = sadbench.Network(WIDTHS, activation=activation)
    X = np.linspace(-1.0, 1.0, POINTS)[:, None]
    Y = X**2
    theta0 = net.init(seed=0, ensemble=members).reshape(members, net.num_params)
    return net, X, Y, theta0


def layers(widths):
    """(W offset, W shape, b offset) per layer of the flat layout: W (out × in, row-major), then b."""
    out, offset = [], 0
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        out.append((offset, (fan_out, fan_in), offset + fan_in * fan_out))
        offset += fan_out * (fan_in + 1)
    return out


def mse_loss(theta, Xt, Yt, sigma):
    """The mse of the network with flat parameters ``theta`` on the points in the columns of ``Xt``; the same
    code for jax.numpy arrays and torch tensors, which share these operators and methods."""
    shape = layers(WIDTHS)
    a = Xt
    for i, (w, (o, n_in), b) in enumerate(shape):
        z = theta[w : w + o * n_in].reshape(o, n_in) @ a + theta[b : b + o][:, None]
        a = z if i == len(shape) - 1 else sigma(z)
    return ((a - Yt) ** 2).sum(0).mean()


def rk4_step(field, y):
    """One classical Runge–Kutta step of y' = field(y) with dt = RK4_DT, for any array type."""
    k1 = field(y)
    k2 = field(y + 0.5 * RK4_DT * k1)
    k3 = field(y + 0.5 * RK4_DT * k2)
    k4 = field(y + RK4_DT * k3)
    return y + RK4_DT / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


# ---------------------------------------------------------------------------------------------- sadbench


def sadbench_runner(backend):
    def run(method, activation, X, Y, theta0):
        net = sadbench.Network(WIDTHS, activation=activation)
        if method == "rk4":
            settings = dict(integrator="rk4", dt=RK4_DT, t_end=RK4_DT * RK4_STEPS)
        else:
            settings = dict(integrator="dopri5", rtol=DOPRI5_TOL, atol=DOPRI5_TOL, t_end=DOPRI5_T)
        sol = sadbench.integrate(net, theta0, X, Y, save=np.array([settings["t_end"]]), detectors=None,
                                 backend=backend, **settings)
        initial = net.loss_and_grad(theta0, X, Y)[0]
        return np.atleast_1d(initial), sol.loss[:, -1], int(np.sum(sol.n_grad))

    return run


# ---------------------------------------------------------------------------------------------- JAX


def jax_runner():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import diffrax

    compiled = {}

    def build(method, activation, X, Y):
        sigma = {"gelu": lambda z: jax.nn.gelu(z, approximate=False), "tanh": jnp.tanh}[activation]
        Xt, Yt = jnp.asarray(X.T), jnp.asarray(Y.T)

        def loss(theta):
            return mse_loss(theta, Xt, Yt, sigma)

        field = jax.grad(loss)
        if method == "rk4":
            def one(theta):
                final = jax.lax.fori_loop(0, RK4_STEPS, lambda _, y: rk4_step(lambda z: -field(z), y), theta)
                return loss(theta), loss(final), 4 * RK4_STEPS
        else:
            term = diffrax.ODETerm(lambda t, y, args: -field(y))

            def one(theta):
                sol = diffrax.diffeqsolve(term, diffrax.Dopri5(), 0.0, DOPRI5_T, None, theta,
                                          stepsize_controller=diffrax.PIDController(rtol=DOPRI5_TOL, atol=DOPRI5_TOL),
                                          saveat=diffrax.SaveAt(t1=True), max_steps=10_000_000)
                return loss(theta), loss(sol.ys[-1]), sol.stats["num_steps"] * 6
        return jax.jit(jax.vmap(one))

    def run(method, activation, X, Y, theta0):
        key = (method, activation, theta0.shape)
        if key not in compiled:
            compiled[key] = build(method, activation, X, Y)
        initial, final, grads = jax.block_until_ready(compiled[key](jnp.asarray(theta0)))
        return np.asarray(initial), np.asarray(final), int(np.sum(grads))

    return run


# ---------------------------------------------------------------------------------------------- PyTorch


def torch_runner(device):
    import torch
    import torchdiffeq
    from torch.func import grad, vmap

    def run(method, activation, X, Y, theta0):
        sigma = {"gelu": torch.nn.functional.gelu, "tanh": torch.tanh}[activation]
        Xt = torch.as_tensor(X.T, dtype=torch.float64, device=device)
        Yt = torch.as_tensor(Y.T, dtype=torch.float64, device=device)

        def loss(theta):
            return mse_loss(theta, Xt, Yt, sigma)

        batch_loss, batch_grad = vmap(loss), vmap(grad(loss))
        theta = torch.as_tensor(theta0, dtype=torch.float64, device=device)
        with torch.no_grad():
            if method == "rk4":
                y = theta
                for _ in range(RK4_STEPS):
                    y = rk4_step(lambda z: -batch_grad(z), y)
                grads = 4 * RK4_STEPS * len(theta0)
            else:
                calls = [0]

                def field(t, y):
                    calls[0] += 1
                    return -batch_grad(y)

                span = torch.tensor([0.0, DOPRI5_T], dtype=torch.float64, device=device)
                y = torchdiffeq.odeint(field, theta, span, method="dopri5", rtol=DOPRI5_TOL, atol=DOPRI5_TOL)[-1]
                grads = calls[0] * len(theta0)
            return batch_loss(theta).cpu().numpy(), batch_loss(y).cpu().numpy(), grads

    return run


# ---------------------------------------------------------------------------------------------- numpy + scipy


def scipy_runner(max_members):
    """numpy backpropagation over the whole batch (rk4) and scipy's RK45, the same Dormand–Prince pair, one
    member at a time (dopri5: solve_ivp has no ensembles); at most ``max_members`` members are run."""
    from scipy.integrate import solve_ivp
    from scipy.special import erf

    sigmas = {
        "gelu": (lambda z: 0.5 * z * (1.0 + erf(z / np.sqrt(2.0))),
                 lambda z: 0.5 * (1.0 + erf(z / np.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)),
        "tanh": (np.tanh, lambda z: 1.0 - np.tanh(z) ** 2),
    }

    def run(method, activation, X, Y, theta0):
        sigma, dsigma = sigmas[activation]
        shape = layers(WIDTHS)
        theta0 = theta0[:max_members]

        def loss_grad(theta):  # theta (E, P) -> L (E,), ∇L (E, P)
            a, cache = np.broadcast_to(X.T, (len(theta),) + X.T.shape), []
            for i, (w, (o, n_in), b) in enumerate(shape):
                z = theta[:, w : w + o * n_in].reshape(-1, o, n_in) @ a + theta[:, b : b + o, None]
                cache.append((a, z))
                a = z if i == len(shape) - 1 else sigma(z)
            residual = a - Y.T
            g = np.empty_like(theta)
            delta = 2.0 * residual / X.shape[0]
            for i in reversed(range(len(shape))):
                w, (o, n_in), b = shape[i]
                a_in, _ = cache[i]
                g[:, w : w + o * n_in] = (delta @ a_in.transpose(0, 2, 1)).reshape(len(theta), -1)
                g[:, b : b + o] = delta.sum(axis=2)
                if i:
                    W = theta[:, w : w + o * n_in].reshape(-1, o, n_in)
                    delta = (W.transpose(0, 2, 1) @ delta) * dsigma(cache[i - 1][1])
            return np.mean(np.sum(residual**2, axis=1), axis=1), g

        initial = loss_grad(theta0)[0]
        if method == "rk4":
            y = theta0
            for _ in range(RK4_STEPS):
                y = rk4_step(lambda z: -loss_grad(z)[1], y)
            return initial, loss_grad(y)[0], 4 * RK4_STEPS * len(theta0)
        finals, grads = [], 0
        for theta in theta0:
            result = solve_ivp(lambda t, y: -loss_grad(y[None])[1][0], (0.0, DOPRI5_T), theta, method="RK45",
                               rtol=DOPRI5_TOL, atol=DOPRI5_TOL, t_eval=[DOPRI5_T])
            finals.append(loss_grad(result.y[:, -1][None])[0][0])
            grads += result.nfev
        return initial, np.array(finals), grads

    return run


# ---------------------------------------------------------------------------------------------- harness

def make_runner(name, args):
    if name.startswith("sadbench-"):
        return sadbench_runner(name.split("-", 1)[1])
    if name == "numpy":
        return scipy_runner(args.scipy_members)
    if name == "torch":
        return torch_runner(args.torch_device)
    return jax_runner()


def device_of(name, args):
    """Where an implementation computes, ``gpu`` or ``cpu``: only CPU runs are set against the CPU's matrix
    product."""
    if name == "jax":
        import jax

        return "gpu" if jax.default_backend() == "gpu" else "cpu"
    if name == "torch":
        return "gpu" if args.torch_device.startswith("cuda") else "cpu"
    return "gpu" if name == "sadbench-cuda" else "cpu"


LABELS = {"jax": "jax+diffrax", "torch": "torch+torchdiffeq", "numpy": "numpy+scipy"}


def timed(run, repeats, *call):
    start = time.perf_counter()
    result = run(*call)
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = run(*call)
        best = min(best, time.perf_counter() - start)
    return first, best, result


def worker(args):
    """Run one implementation over the grid and print one JSON line per run (the parent parses them)."""
    run = make_runner(args.worker, args)
    device = device_of(args.worker, args)
    for method, activation, members in itertools.product(args.method, args.activation, args.members):
        _, X, Y, theta0 = problem(activation, members)
        first, best, (initial, final, grads) = timed(run, args.repeats, method, activation, X, Y, theta0)
        print(json.dumps(dict(method=method, activation=activation, members=members, device=device, first=first,
                              best=best, initial=np.asarray(initial).tolist(), final=np.asarray(final).tolist(),
                              grads=int(grads))), flush=True)


def run_worker(name, args):
    """Each implementation in its own process: their LLVMs and OpenMP runtimes do not meet."""
    command = [sys.executable, __file__, "--worker", name, "--method", *args.method, "--activation",
               *args.activation, "--members", *map(str, args.members), "--repeats", str(args.repeats),
               "--scipy-members", str(args.scipy_members), "--torch-device", args.torch_device]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=args.worker_timeout)
        stdout, failed = done.stdout, done.returncode and (done.stderr.strip().splitlines() or ["no output"])[-1]
    except subprocess.TimeoutExpired as expired:  # keep the runs it finished
        stdout, failed = expired.stdout or "", f"stopped after {args.worker_timeout:g} s"
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
    records = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    print(f"{LABELS.get(name, name)}: {len(records)} runs in {time.perf_counter() - start:.0f} s"
          + (f"; {failed}" if failed else ""), flush=True)
    return {(r["method"], r["activation"], r["members"]): r for r in records}


def check(name, reference, record, final_rtol):
    """Raise unless ``record`` agrees with the sadbench reference on the members both ran."""
    k = len(record["initial"])
    err_initial = np.max(np.abs(np.divide(record["initial"], reference["initial"][:k]) - 1.0))
    err_final = np.max(np.abs(np.divide(record["final"], reference["final"][:k]) - 1.0))
    if not (err_initial <= 1e-12 and err_final <= final_rtol):
        raise SystemExit(f"{name} disagrees with sadbench: initial loss {err_initial:.1e} (≤ 1e-12 needed), "
                         f"final loss {err_final:.1e} (≤ {final_rtol:g} needed)")
    return err_initial, err_final


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", nargs="+", choices=sorted(STAGES), default=["rk4", "dopri5"])
    parser.add_argument("--activation", nargs="+", default=["gelu", "tanh"])
    parser.add_argument("--members", nargs="+", type=int, default=[1, 64, 1024])
    parser.add_argument("--backends", nargs="+", default=["cpu"], help="sadbench backends: cpu, cuda")
    parser.add_argument("--peers", nargs="*", default=["jax", "torch", "numpy"], choices=["jax", "torch", "numpy"])
    parser.add_argument("--scipy-members", type=int, default=4, help="members scipy runs (it is serial)")
    parser.add_argument("--torch-device", default="cpu", help="where PyTorch runs: cpu, cuda")
    parser.add_argument("--dopri5-agreement", type=float, default=1e-6, help="final-loss agreement for dopri5")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker-timeout", type=float, default=1800.0,
                        help="seconds per implementation; its finished runs are kept")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    roofline = matmul_gflops()[0]
    flops = gradient_flops(WIDTHS, POINTS)
    print(f"{os.cpu_count()} CPUs; float64 matmul {roofline:.1f} GFLOP/s; {flops} flops per gradient", flush=True)
    names = [f"sadbench-{backend}" for backend in args.backends] + args.peers
    results = {name: run_worker(name, args) for name in names}
    print(f"\n{'method':>7} {'act':>5} {'E':>5} {'implementation':>18} {'on':>3} {'ran':>5} {'first s':>8} "
          f"{'best s':>8} {'µs/m-step':>10} {'GFLOP/s':>8} {'%mm':>5} {'ΔL0':>8} {'ΔL(T)':>8}")
    for key in itertools.product(args.method, args.activation, args.members):
        method = key[0]
        reference = results[names[0]].get(key)
        if reference is None:
            continue
        per_step = {}
        for name in names:
            record = results[name].get(key)
            if record is None:
                continue
            errors = check(name, reference, record, 1e-9 if method == "rk4" else args.dopri5_agreement)
            member_steps = record["grads"] / STAGES[method]
            per_step[name] = record["best"] / member_steps
            gflops = record["grads"] * flops / record["best"] / 1e9
            share = f"{100 * gflops / roofline:5.1f}" if record["device"] == "cpu" else f"{'—':>5}"
            print(f"{method:>7} {key[1]:>5} {key[2]:>5} {LABELS.get(name, name):>18} {record['device']:>3} "
                  f"{len(record['initial']):>5} {record['first']:8.3f} {record['best']:8.3f} "
                  f"{per_step[name] * 1e6:10.2f} {gflops:8.2f} {share} {errors[0]:8.1e} {errors[1]:8.1e}")
        ours = min(v for n, v in per_step.items() if n.startswith("sadbench"))
        peers = [v for n, v in per_step.items() if not n.startswith("sadbench")]
        if peers:
            print(f"{'':>21} sadbench is {min(peers) / ours:.1f}× faster per member-step than the fastest peer")


if __name__ == "__main__":
    main()
