"""Running the CUDA kernel: the work array in the layout's order, launches, and the chunk loop that the CPU
backend uses too (:func:`sadbench.solvers.chunked.chunk_loop`)."""

import time

import numpy as np

from sadbench.cuda.device import cuda, require
from sadbench.cuda.geometry import (
    LAYOUTS, RA, RF, RK, RY, THREADS_PER_BLOCK, Geometry, block_threads, choose_layout, chunk_points,
)
from sadbench.cuda.kernel import build_kernel
from sadbench.errors import SadbenchError
from sadbench.solvers.chunked import chunk_loop


class Program:
    """A compiled kernel with its launch geometry and work-array layout."""

    def __init__(self, net, loss_spec, n_points, n_members, layout="auto"):
        if layout not in LAYOUTS:
            raise SadbenchError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
        geometry = Geometry(net.widths, net.bias)
        if layout == "auto":
            layout = choose_layout(geometry, n_points, n_members)
        self.layout = layout
        self.threads = block_threads(geometry, n_points, n_members) if layout == "block" else THREADS_PER_BLOCK
        chunk = chunk_points(geometry, n_points) if layout == "block" else 1
        act = net.activation
        try:
            self.kernel, self.geometry = build_kernel(act.f, act.df, loss_spec.value, loss_spec.d1,
                                                      geometry.widths, geometry.bias, int(n_points), layout,
                                                      self.threads, chunk, (act.name, loss_spec.name))
        except SadbenchError:
            raise
        except Exception as exc:  # numba-cuda raises many error types while building; all mean "cannot compile"
            raise SadbenchError(f"the CUDA kernel for activation {act.name!r} and loss {loss_spec.name!r} "
                                f"could not be built: {str(exc).splitlines()[0] if str(exc) else exc!r}") from exc

    def work(self, thetas, grads, anchors, stages):
        """The work array (rows θ, -∇L, the anchor filled in) in this layout's order: (E, rows, P) for the
        block layout, (rows, P, E) for the thread layout, so that a warp's reads are contiguous."""
        E, P = thetas.shape
        rows = RK + stages
        if self.layout == "block":
            W = np.zeros((E, rows, P))
            W[:, RY], W[:, RF], W[:, RA] = thetas, grads, anchors
        else:
            W = np.zeros((rows, P, E))
            W[RY], W[RF], W[RA] = thetas.T, grads.T, anchors.T
        return W

    def unpack(self, W, row):
        """Row ``row`` of every member, (E, P)."""
        return W[:, row] if self.layout == "block" else W[row].T

    def launch(self, W, X, Y, tab, save_t, settings, states, out, snaps):
        """Run the kernel on device arrays; ``W`` flattened as the kernel indexes it."""
        E = states.shape[0]
        if self.layout == "block":
            self.kernel[E, self.threads](W, X, Y, tab, save_t, settings, states, out, snaps)
        else:
            blocks = (E + self.threads - 1) // self.threads
            self.kernel[blocks, self.threads](W, X, Y, tab, save_t, settings, states, out, snaps)
        cuda.synchronize()


def supports(method):
    """Whether ``method`` has a CUDA kernel: an explicit Runge–Kutta tableau with the driver's PI control."""
    return getattr(method, "tableau", None) is not None and method.step_control == "pi"


def check_method(method):
    if not supports(method):
        raise SadbenchError(
            f"integrator {method.name!r} has no CUDA kernel: backend 'cuda' runs explicit Runge–Kutta "
            f"integrators defined by a ButcherTableau (sadbench.ExplicitRungeKutta); use backend='cpu'"
        )


def run_chunks(state, method, net, loss_spec, X, Y, max_wall_time, stoppers, traces, layout="auto"):
    """Advance every running member to the last save time on the GPU, a launch per chunk of save points
    (:func:`sadbench.solvers.chunked.chunk_loop`); returns the seconds spent."""
    require()
    check_method(method)
    start = time.perf_counter()
    E = state.thetas.shape[0]
    program = Program(net, loss_spec, X.shape[0], E, layout)
    stages = method.tableau.stages
    W_host = program.work(state.thetas, state.grads, state.anchors, stages)
    flat = W_host.reshape(E, -1) if program.layout == "block" else W_host.reshape(-1)
    W = cuda.to_device(flat)
    dX, dY = cuda.to_device(X), cuda.to_device(Y)
    tab, save_t = cuda.to_device(method.params), cuda.to_device(state.times)
    out, snaps = cuda.to_device(state.out), cuda.to_device(state.snapshots)

    def advance():
        d_states = cuda.to_device(state.states)
        program.launch(W, dX, dY, tab, save_t, cuda.to_device(state.settings), d_states, out, snaps)
        d_states.copy_to_host(state.states)

    def fetch():
        out.copy_to_host(state.out)
        snaps.copy_to_host(state.snapshots)

    chunk_loop(state, advance, max_wall_time, stoppers, traces, start, fetch)
    W.copy_to_host(flat)
    out.copy_to_host(state.out)
    snaps.copy_to_host(state.snapshots)
    state.thetas[:] = program.unpack(W_host, RY)
    state.grads[:] = program.unpack(W_host, RF)
    state.anchors[:] = program.unpack(W_host, RA)
    return time.perf_counter() - start
