"""Launch geometry of the CUDA kernels: an architecture's offsets, the layout (a thread or a block per
member), threads per member and points per chunk, each choice with the measurement behind it."""

from sadbench.cuda.device import multiprocessors

LAYOUTS = ("auto", "thread", "block")
#: Threads per block of the thread layout.
THREADS_PER_BLOCK = 64
#: Most threads per member of the block layout.
BLOCK_THREADS = 256
#: Shared memory the block layout may use for one chunk of points (bytes): below the 48 KiB static limit.
SHARED_BYTES = 40 * 1024
#: Per-member rows of the work array: θ, -∇L, θ_new, -∇L(θ_new), a stage's argument, the direction anchor;
#: the s stages follow.
RY, RF, RYN, RFN, RS, RA, RK = range(7)


class Geometry:
    """Offsets of one architecture: the flat parameter layout and the rows of the per-point buffer
    (inputs and hidden activations, then σ′ of the hidden layers, overwritten by their δ, then the
    output layer's δ)."""

    def __init__(self, widths, bias):
        widths = tuple(int(w) for w in widths)
        self.widths, self.bias = widths, int(bias)
        self.n_layers = L = len(widths) - 1
        self.fan_in, self.fan_out = widths[:-1], widths[1:]
        offsets, p = [], 0
        for fi, fo in zip(self.fan_in, self.fan_out):
            offsets.append(p)
            p += fo * (fi + self.bias)
        self.param_offset, self.n_params = tuple(offsets), p
        hidden = widths[1:-1]
        self.rows_hidden = sum(hidden)
        self.rows_a = widths[0] + self.rows_hidden
        act = [widths[0] + sum(hidden[:m]) for m in range(L - 1)]
        grad = [self.rows_a + sum(hidden[:m]) for m in range(L - 1)]
        self.out_delta = self.rows_a + self.rows_hidden
        self.rows = self.out_delta + widths[-1]
        # padded to L entries so that every tuple is indexable by the layer number
        self.act_out = tuple(act) + (0,)
        self.act_in = (0,) + tuple(act)
        self.g_rows = tuple(grad) + (0,)
        self.delta_rows = tuple(grad) + (self.out_delta,)


def choose_layout(geometry, n_points, n_members):
    """The layout ``"auto"`` means. Measured on an H100 (benchmarks/cuda_speed.py, [1, 16, 16, 1] on 64
    points): one block per member ran RK4 at 0.31 µs per member-step for E = 1024 and 0.35 for E = 16384,
    one thread per member at 27.7 and 3.9 µs (it is latency-bound: each thread walks θ and ∇L in global
    memory point by point). A thread per member only pays when a block would leave most of its warp
    idle: fewer than 32 points, a tiny network and an ensemble that fills the GPU with threads."""
    if chunk_points(geometry, n_points) >= 32 or geometry.rows > 64:
        return "block"
    return "thread" if n_members >= 32 * 32 * multiprocessors() else "block"


def block_threads(geometry, n_points, n_members):
    """Threads per member of the block layout, a power of two (the reductions halve it).

    An ensemble smaller than the GPU's count of multiprocessors is latency-bound: each member gets enough
    threads for a layer's (unit, point) pairs in a chunk, up to :data:`BLOCK_THREADS` (on an H100, GELU
    [1, 16, 16, 1] on 64 points, RK4, before the per-layer passes: 160 µs per step at E = 1 and 2.5 µs per
    member-step at E = 64, against 394 and 6.2 with a thread per point). A larger ensemble fills the GPU
    anyway, and one thread per point of a chunk synchronises least: at E = 1024 it was the fastest of six
    (points per chunk, threads) pairs, 0.94 µs per member-step against 1.04-1.32 for (64, 128), (64, 256),
    (32, 32), (32, 64) and (16, 64) (E = 16384: 1.34 against 1.54-2.36; measured with a script since removed,
    docs/performance.md "Removed investigation scripts")."""
    points = chunk_points(geometry, n_points)
    if n_members >= multiprocessors():
        return points
    threads = 1
    while threads < min(points * max(geometry.widths), BLOCK_THREADS):
        threads *= 2
    return threads



def chunk_points(geometry, n_points):
    """Points per chunk of the block layout: a power of two ≤ 128, not above the points, whose buffer
    (``rows × (points + 1)`` floats: a row's odd stride keeps a warp's reads down a column off one bank)
    fits :data:`SHARED_BYTES`."""
    points = 128
    while points > 1 and (points // 2 >= n_points or 8 * geometry.rows * (points + 1) > SHARED_BYTES):
        points //= 2
    return points

