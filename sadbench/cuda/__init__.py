"""The CUDA backend of ``sadbench.integrate``: explicit Runge–Kutta ensembles on an NVIDIA GPU (numba-cuda).

This is the only module that imports ``numba.cuda`` (``import sadbench`` does not import it), so a switch of
GPU library touches one file. The kernels run the driver's algorithm (:mod:`sadbench.solvers.driver`) line by line:
every member on its own step size (Hairer's PI controller, ``rtol``/``atol``, ``dt_min``/``dt_max``,
``max_steps``), save times hit exactly, the same observables and status codes; the host then runs the
detectors on the saved series exactly as for the CPU backend. Any :class:`~sadbench.solvers.rk.ExplicitRungeKutta`
integrator runs, built-in or plugin: the tableau travels packed as on the CPU.

Two layouts of one kernel source (``layout=``):

- ``"thread"``: one thread per member; each member's vectors are stored member-minor ``[row, p, member]``,
  so the threads of a warp read consecutive addresses; the gradient is accumulated one data point at a time.
- ``"block"``: one block per member. A chunk of points is propagated forward and backward through shared
  memory a layer at a time, the threads over the (unit, point) pairs of the layer; then the threads, now
  over the parameters, reduce ∇L = Σ_points δ·aᵀ out of shared memory. The step's vector updates, norms
  and error norms are spread over the threads too (tree reductions in shared memory).

``"auto"`` picks the block layout unless there are so few data points that a block would leave most of its
warp idle (measured: :func:`choose_layout`).

CUDA has no first-class functions, so each activation × loss × architecture × layout is compiled into its
own kernel: the activation's and the loss's scalar functions become device functions by compiling their
Python source for CUDA (:func:`device_function`; the njit functions they call are translated the same way),
so a third-party plugin's activation runs on the GPU without a CUDA-specific version. Each layer's passes
are device functions of their own with the layer's widths and offsets as constants, and the kernels are
cached on disk (numba-cuda's cache, its key extended by :func:`source_digest`).
"""

import math
import time
import types as pytypes
from functools import lru_cache, reduce

import numpy as np
from numba import cuda
from numba.cuda import serialize
from numba.core.extending import _Intrinsic
from numba.core.registry import CPUDispatcher

from sadbench.solvers import control
from sadbench.solvers.chunked import chunk_loop
from sadbench.solvers.driver import (  # the state columns, settings, observables and status codes the kernels use
    ATOL, CHUNK_ATTEMPTS, CHUNK_END, DT_MAX, DT_MIN, DT_MIN_, ERR_PREV, ERROR_ORDER, FACTOR_MAX, FACTOR_MIN,
    FIXED_DT, H, LOSS, MAX_STEPS, MAX_STEPS_, N_GRAD, N_REJECTED, N_SAVED, N_STEPS, NONFINITE, ORDER,
    Q_ALIGN, Q_DIR_COS, Q_GRAD_NORM, Q_LOSS, Q_N_GRAD, Q_N_STEPS, Q_NORM, REJECTED_LAST, RTOL, RUNNING,
    SAFETY, STATUS, STEP_BASE, STOP_GRAD, STOP_GRAD_BELOW, STOP_NORM, STOP_NORM_ABOVE, SUCCESS,
)
from sadbench.solvers.driver import T as T_  # the state column of t (``T`` is the threads per member below)
from sadbench.errors import SadbenchError
from sadbench.jit import global_names, source_digest, uses_njit
from sadbench.specs import _cause

if not hasattr(np, "row_stack"):
    # numba-cuda 0.30 registers an overload of np.row_stack (an alias of vstack that NumPy 2.5 removed) when
    # it compiles its first kernel; without the alias no kernel compiles under NumPy >= 2.5.
    np.row_stack = np.vstack

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


def _simulated():
    from numba.cuda.core import config

    return bool(config.ENABLE_CUDASIM)


def available():
    """Whether a CUDA device (or numba-cuda's simulator, ``NUMBA_ENABLE_CUDASIM=1``) can run the kernels."""
    try:
        return _simulated() or cuda.is_available()
    except Exception:  # a broken driver installation means "not available", whatever numba raises
        return False


def require():
    """Raise a SadbenchError that says why when the CUDA backend cannot run here."""
    if not available():
        raise SadbenchError(
            "backend 'cuda' needs an NVIDIA GPU with a working driver: numba.cuda.is_available() is False "
            "here. Use backend='cpu', or set NUMBA_ENABLE_CUDASIM=1 to run the kernels on numba-cuda's "
            "(slow) simulator."
        )


# --- plugin functions as device functions ---------------------------------------------------------------


class _ShadowModule(pytypes.ModuleType):
    """A stand-in for a module used by a plugin function: attribute look-ups return device versions of its
    njit functions (numba resolves ``module.attr`` at compile time through ``getattr``)."""

    def __init__(self, module):
        super().__init__(module.__name__ + "_cuda")
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name):
        return _translate(getattr(object.__getattribute__(self, "_module"), name))

    def __reduce__(self):  # numba-cuda pickles a kernel's closure for its disk-cache key
        return _ShadowModule, (object.__getattribute__(self, "_module"),)


@cuda.jit(device=True)
def _floor(x):
    return int(math.floor(x))


@cuda.jit(device=True)
def _ceil(x):
    return int(math.ceil(x))


@cuda.jit(device=True)
def _trunc(x):
    return int(math.trunc(x))


class _CudaMath(pytypes.ModuleType):
    """``math`` as CPU numba types it: ``floor``, ``ceil`` and ``trunc`` of a float return an integer
    (numba-cuda returns a float, which breaks integer code such as ``math.floor(x) >> 1``)."""

    _integer = {"floor": _floor, "ceil": _ceil, "trunc": _trunc}

    def __getattr__(self, name):
        return self._integer.get(name) or getattr(math, name)

    def __reduce__(self):
        return _CudaMath, ("math",)


def _translate(value):
    """:func:`_translate_hashable`, for any value (unhashable ones, arrays say, are constants: kept)."""
    try:
        hash(value)
    except TypeError:
        return value
    return _translate_hashable(value)


@lru_cache(maxsize=None)
def _translate_hashable(value):
    """The CUDA counterpart of a value a plugin function refers to: njit functions are recompiled from their
    Python source, numba intrinsics re-registered for CUDA, modules holding either shadowed; anything
    else (constants, ``math``) is left as it is."""
    if isinstance(value, CPUDispatcher):
        return _device_from_source(value.py_func)
    if isinstance(value, _Intrinsic):
        from numba.cuda.extending import intrinsic

        return intrinsic(value._defn)
    if value is math:
        return _CudaMath("math")
    if isinstance(value, pytypes.BuiltinFunctionType) and value.__name__ in _CudaMath._integer and (
            getattr(math, value.__name__, None) is value):
        return _CudaMath._integer[value.__name__]
    if isinstance(value, pytypes.ModuleType) and uses_njit(value):
        return _ShadowModule(value)
    return value


def _cacheable(*device_functions):
    """Whether numba-cuda can key a disk-cached kernel that calls these: it pickles the kernel's closure,
    and a plugin function could hold something that does not pickle; its kernel is then compiled uncached."""
    if _simulated():
        return False
    try:
        serialize.dumps(device_functions)
    except Exception:  # pickling raises many error types
        return False
    return True


def _device_from_source(py_func, argtypes=None):
    """``py_func`` as a CUDA device function, its globals and closure translated; compiled now for
    ``argtypes`` when given (numba-cuda's eager compilation), else at its first call."""
    env = dict(py_func.__globals__)
    for name in global_names(py_func) & env.keys():
        env[name] = _translate(env[name])
    closure = None
    if py_func.__closure__:
        closure = tuple(pytypes.CellType(_translate(cell.cell_contents)) for cell in py_func.__closure__)
    clone = pytypes.FunctionType(py_func.__code__, env, py_func.__name__, py_func.__defaults__, closure)
    clone.__kwdefaults__ = py_func.__kwdefaults__
    if argtypes is None:
        return cuda.jit(device=True)(clone)
    return cuda.jit(argtypes, device=True)(clone)


def device_function(fn, what, nargs):
    """``fn`` (a plugin's njit function of ``nargs`` floats) as a CUDA device function, compiled now so that
    a function CUDA cannot compile is named (``what``) before any kernel is built.

    On the simulator the compiled CPU function itself is called (the simulator runs kernels in Python).
    """
    if not isinstance(fn, CPUDispatcher):
        raise SadbenchError(f"{what} is not a numba @njit function, so it cannot be compiled for CUDA")
    if _simulated():
        def call(*args):
            return fn(*args)

        return cuda.jit(device=True)(call)
    try:
        return _device_from_source(fn.py_func, (cuda.float64,) * nargs)
    except Exception as exc:  # numba-cuda raises many error types; all mean "cannot compile"
        raise SadbenchError(f"{what} cannot be compiled for CUDA: {_cause(exc)}") from exc


# --- the kernels ----------------------------------------------------------------------------------------


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
    return "thread" if n_members >= 32 * 32 * _multiprocessors() else "block"


def block_threads(geometry, n_points, n_members):
    """Threads per member of the block layout, a power of two (the reductions halve it).

    An ensemble smaller than the GPU's count of multiprocessors is latency-bound: each member gets enough
    threads for a layer's (unit, point) pairs in a chunk, up to :data:`BLOCK_THREADS` (on an H100, GELU
    [1, 16, 16, 1] on 64 points, RK4, before the per-layer passes: 160 µs per step at E = 1 and 2.5 µs per
    member-step at E = 64, against 394 and 6.2 with a thread per point). A larger ensemble fills the GPU
    anyway, and one thread per point of a chunk synchronises least: at E = 1024 it was the fastest of six
    (points per chunk, threads) pairs, 0.94 µs per member-step against 1.04-1.32 for (64, 128), (64, 256),
    (32, 32), (32, 64) and (16, 64) (benchmarks/cuda_block_shapes.py; E = 16384: 1.34 against 1.54-2.36)."""
    points = chunk_points(geometry, n_points)
    if n_members >= _multiprocessors():
        return points
    threads = 1
    while threads < min(points * max(geometry.widths), BLOCK_THREADS):
        threads *= 2
    return threads


def _multiprocessors():
    if _simulated():
        return 1
    return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)


def chunk_points(geometry, n_points):
    """Points per chunk of the block layout: a power of two ≤ 128, not above the points, whose buffer
    (``rows × (points + 1)`` floats: a row's odd stride keeps a warp's reads down a column off one bank)
    fits :data:`SHARED_BYTES`."""
    points = 128
    while points > 1 and (points // 2 >= n_points or 8 * geometry.rows * (points + 1) > SHARED_BYTES):
        points //= 2
    return points


@lru_cache(maxsize=None)
def _kernel(f, df, value, d1, widths, bias, n_points, layout, threads, chunk, names):
    """The integration kernel of one activation × loss × architecture × number of points × layout."""
    act_name, loss_name = names
    dev_f = device_function(f, f"activation {act_name!r} (f)", 1)
    dev_df = device_function(df, f"activation {act_name!r} (df)", 1)
    dev_value = device_function(value, f"loss {loss_name!r} (value)", 2)
    dev_d1 = device_function(d1, f"loss {loss_name!r} (d1)", 2)
    step_factor = device_function(control.step_factor, "sadbench.solvers.control.step_factor", 6)
    g = Geometry(widths, bias)
    BLOCK = layout == "block"
    T = threads if BLOCK else 1  # threads working on one member
    CP = chunk if BLOCK else 1  # points per chunk
    STRIDE = CP + 1  # the chunk buffer's row length (a constant: shared arrays need one)
    N, L, P, D, BIAS = n_points, g.n_layers, g.n_params, g.widths[0], g.bias
    ROWS = g.rows
    FAN_IN, FAN_OUT, P_OFF = g.fan_in, g.fan_out, g.param_offset
    A_IN, A_OUT, G_ROWS, D_ROWS, DOUT = g.act_in, g.act_out, g.g_rows, g.delta_rows, g.out_delta
    SCALE = -1.0 / N  # the flow's field is -∇L, L the mean over points
    INV_P = 1.0 / P

    if BLOCK:
        @cuda.jit(device=True)
        def ix(r, p, e, E):
            return r * P + p
    else:
        @cuda.jit(device=True)
        def ix(r, p, e, E):
            return (r * P + p) * E + e

    @cuda.jit(device=True)
    def sync():
        if BLOCK:
            cuda.syncthreads()

    @cuda.jit(device=True)
    def block_sum(v, tid, red):
        """Σ of ``v`` over the member's threads, returned to every thread."""
        if not BLOCK:
            return v
        cuda.syncthreads()  # every thread has read the last sum out of red
        red[tid] = v
        half = T // 2
        while half > 0:
            cuda.syncthreads()
            if tid < half:
                red[tid] += red[tid + half]
            half //= 2
        cuda.syncthreads()
        return red[0]

    # The gradient is built from one device function per layer, each with its widths and offsets as
    # compile-time constants: the compiler unrolls the loops over a layer's fan-in, and the work items are
    # split by the chunk length CP, a constant power of two, rather than by the chunk's point count (a
    # 64-bit division by a variable). With run-time widths the integer pipe was the kernel's busiest on an
    # H100 (ncu: 44.8% of cycles, 33% after), and RK4 at E = 1024 ran 2.3x slower.
    def forward_layer(l):
        """Layer l on the chunk's points: a = f(z) and σ′(z) of a hidden layer; the output's δ and loss."""
        fi, fo, po, src, last = FAN_IN[l], FAN_OUT[l], P_OFF[l], A_IN[l], l == L - 1
        a_row, g_row, bias_at = A_OUT[l], G_ROWS[l], P_OFF[l] + FAN_OUT[l] * FAN_IN[l]

        @cuda.jit(device=True)
        def layer(W, rin, e, E, Y, start, c, tid, buf):
            part = 0.0
            # work item w = (unit j, point i): a warp's threads share j, so their reads of θ coincide
            for w in range(tid, CP * fo, T):
                j = w // CP
                i = w - j * CP
                if i < c:
                    z = W[ix(rin, bias_at + j, e, E)] if BIAS else 0.0
                    for q in range(fi):
                        z += W[ix(rin, po + j * fi + q, e, E)] * buf[src + q, i]
                    if last:
                        part += dev_value(z, Y[start + i, j])
                        buf[DOUT + j, i] = SCALE * dev_d1(z, Y[start + i, j])
                    else:
                        buf[a_row + j, i] = dev_f(z)
                        buf[g_row + j, i] = dev_df(z)
            return part

        return layer

    def backward_layer(l):
        """δ of layer l - 1 (overwriting its σ′) from layer l's δ: δ = Wᵀδ ⊙ σ′."""
        fi, fo, po, dsrc, dst = FAN_IN[l], FAN_OUT[l], P_OFF[l], D_ROWS[l], G_ROWS[l - 1]

        @cuda.jit(device=True)
        def layer(W, rin, e, E, Y, start, c, tid, buf):
            for w in range(tid, CP * fi, T):
                q = w // CP
                i = w - q * CP
                if i < c:
                    s = 0.0
                    for j in range(fo):
                        s += W[ix(rin, po + j * fi + q, e, E)] * buf[dsrc + j, i]
                    buf[dst + q, i] = s * buf[dst + q, i]
            return 0.0

        return layer

    def then(first, second):
        """The two passes in turn, a barrier between them; the loss parts they return summed."""
        @cuda.jit(device=True)
        def both(W, rin, e, E, Y, start, c, tid, buf):
            part = first(W, rin, e, E, Y, start, c, tid, buf)
            sync()
            return part + second(W, rin, e, E, Y, start, c, tid, buf)

        return both

    def layer_gradient(l):
        """Σ over the chunk's points of ∂(loss)/∂θ_p for a parameter p of layer l: δ·aᵀ, or Σ δ for a bias."""
        fi, po, d_row, a_row = FAN_IN[l], P_OFF[l], D_ROWS[l], A_IN[l]
        n_w = FAN_OUT[l] * FAN_IN[l]

        @cuda.jit(device=True)
        def gradient(p, c, buf):
            r = p - po
            s = 0.0
            if r < n_w:
                j = r // fi
                q = r - j * fi
                for cc in range(c):
                    s += buf[d_row + j, cc] * buf[a_row + q, cc]
            else:
                j = r - n_w
                for cc in range(c):
                    s += buf[d_row + j, cc]
            return s

        return gradient

    def parameter_gradient(l):
        """:func:`layer_gradient` of whichever layer from l on holds parameter p."""
        own = layer_gradient(l)
        if l == L - 1:
            return own
        rest, end = parameter_gradient(l + 1), P_OFF[l + 1]

        @cuda.jit(device=True)
        def gradient(p, c, buf):
            return own(p, c, buf) if p < end else rest(p, c, buf)

        return gradient

    propagate = reduce(then, [forward_layer(l) for l in range(L)] + [backward_layer(l) for l in range(L - 1, 0, -1)])
    gradient_of = parameter_gradient(0)

    @cuda.jit(device=True)
    def rhs(W, rin, rout, e, E, X, Y, tid, buf, red):
        """Write -∇L(θ) of row ``rin`` into row ``rout``; return L. All threads of a member call it."""
        for p in range(tid, P, T):
            W[ix(rout, p, e, E)] = 0.0
        part = 0.0
        for start in range(0, N, CP):
            c = min(CP, N - start)
            sync()
            for w in range(tid, CP * D, T):
                q = w // CP
                i = w - q * CP
                if i < c:
                    buf[q, i] = X[start + i, q]
            sync()
            part += propagate(W, rin, e, E, Y, start, c, tid, buf)
            sync()
            for p in range(tid, P, T):
                W[ix(rout, p, e, E)] += gradient_of(p, c, buf)
        return block_sum(part, tid, red) / N

    @cuda.jit(device=True)
    def dot(W, r1, r2, e, E, tid, red):
        s = 0.0
        for p in range(tid, P, T):
            s += W[ix(r1, p, e, E)] * W[ix(r2, p, e, E)]
        return block_sum(s, tid, red)

    @cuda.jit(device=True)
    def norm(W, r, e, E, tid, red):
        return math.sqrt(dot(W, r, r, e, E, tid, red))

    @cuda.jit(device=True)
    def copy(W, dst, src, e, E, tid):
        sync()  # every thread has finished reading dst
        for p in range(tid, P, T):
            W[ix(dst, p, e, E)] = W[ix(src, p, e, E)]
        sync()

    @cuda.jit(device=True)
    def attempt(W, e, E, X, Y, tid, buf, red, tab, h, rtol, atol):
        """:func:`sadbench.solvers.rk.rk_attempt` on the member's rows: (err, gradients used, L(θ_new))."""
        s = int(tab[0])
        fsal, adaptive = tab[1] > 0.0, tab[2] > 0.0
        ob, oe = 3 + s * s, 3 + s * s + s
        copy(W, RK, RF, e, E, tid)
        n_grad = 0.0
        last = s - 1 if fsal else s
        for i in range(1, last):
            for p in range(tid, P, T):
                v = W[ix(RY, p, e, E)]
                for j in range(i):
                    coef = h * tab[3 + i * s + j]
                    if coef != 0.0:
                        v += coef * W[ix(RK + j, p, e, E)]
                W[ix(RS, p, e, E)] = v
            sync()
            rhs(W, RS, RK + i, e, E, X, Y, tid, buf, red)
            n_grad += 1.0
        for p in range(tid, P, T):
            v = W[ix(RY, p, e, E)]
            for j in range(last):
                coef = h * tab[ob + j]
                if coef != 0.0:
                    v += coef * W[ix(RK + j, p, e, E)]
            W[ix(RYN, p, e, E)] = v
        sync()
        loss_new = rhs(W, RYN, RFN, e, E, X, Y, tid, buf, red)
        n_grad += 1.0
        if not adaptive:
            return 0.0, n_grad, loss_new
        if fsal:
            copy(W, RK + s - 1, RFN, e, E, tid)
        err = 0.0
        for p in range(tid, P, T):
            est = 0.0
            for j in range(s):
                est += tab[oe + j] * W[ix(RK + j, p, e, E)]
            y0, y1 = W[ix(RY, p, e, E)], W[ix(RYN, p, e, E)]
            ratio = h * est / (atol + rtol * max(abs(y0), abs(y1)))
            err += ratio * ratio
        return math.sqrt(block_sum(err, tid, red) * INV_P), n_grad, loss_new

    @cuda.jit(device=True)
    def initial_step(W, e, E, X, Y, tid, buf, red, settings):
        """:func:`sadbench.solvers.driver.initial_step` (Hairer–Nørsett–Wanner), θ_new and ∇L(θ_new) as scratch."""
        rtol, atol, order = settings[RTOL], settings[ATOL], settings[ORDER]
        d0 = 0.0
        d1 = 0.0
        for p in range(tid, P, T):
            y = W[ix(RY, p, e, E)]
            sc = atol + rtol * abs(y)
            d0 += (y / sc) ** 2
            d1 += (W[ix(RF, p, e, E)] / sc) ** 2
        d0 = math.sqrt(block_sum(d0, tid, red) * INV_P)
        d1 = math.sqrt(block_sum(d1, tid, red) * INV_P)
        h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
        for p in range(tid, P, T):
            W[ix(RYN, p, e, E)] = W[ix(RY, p, e, E)] + h0 * W[ix(RF, p, e, E)]
        sync()
        rhs(W, RYN, RFN, e, E, X, Y, tid, buf, red)
        d2 = 0.0
        for p in range(tid, P, T):
            sc = atol + rtol * abs(W[ix(RY, p, e, E)])
            d2 += ((W[ix(RFN, p, e, E)] - W[ix(RF, p, e, E)]) / sc) ** 2
        d2 = math.sqrt(block_sum(d2, tid, red) * INV_P) / h0
        if max(d1, d2) <= 1e-15:
            h1 = max(1e-6, h0 * 1e-3)
        else:
            h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1.0))
        return min(100.0 * h0, h1)

    @cuda.jit(device=True)
    def record(W, e, E, tid, red, out, snaps, k, loss, n_grad, n_steps):
        """:func:`sadbench.solvers.driver._record`: the observables at save point k, then the anchor := θ."""
        nrm, gnorm = norm(W, RY, e, E, tid, red), norm(W, RF, e, E, tid, red)
        anorm = norm(W, RA, e, E, tid, red)
        y_f, y_a = dot(W, RY, RF, e, E, tid, red), dot(W, RY, RA, e, E, tid, red)
        align = y_f / (nrm * gnorm) if nrm > 0.0 and gnorm > 0.0 else math.nan
        dcos = y_a / (nrm * anorm) if nrm > 0.0 and anorm > 0.0 else math.nan
        if tid == 0:
            out[e, k, Q_LOSS] = loss
            out[e, k, Q_NORM] = nrm
            out[e, k, Q_GRAD_NORM] = gnorm
            out[e, k, Q_ALIGN] = align
            out[e, k, Q_DIR_COS] = dcos
            out[e, k, Q_N_GRAD] = n_grad
            out[e, k, Q_N_STEPS] = n_steps
        sync()
        copy(W, RA, RY, e, E, tid)
        if snaps.shape[1] > 0:
            for p in range(tid, P, T):
                snaps[e, k, p] = W[ix(RY, p, e, E)]

    @cuda.jit(device=True)
    def member(e, E, tid, W, X, Y, tab, save_t, settings, states, out, snaps, buf, red):
        """:func:`sadbench.solvers.driver.integrate_member` for member e; the state lives in registers until the end."""
        t, h, err_prev = states[e, T_], states[e, H], states[e, ERR_PREV]
        n_steps, n_rej, n_grad = states[e, N_STEPS], states[e, N_REJECTED], states[e, N_GRAD]
        status, k, loss = int(states[e, STATUS]), int(states[e, N_SAVED]), states[e, LOSS]
        rej_last, step_base = states[e, REJECTED_LAST], states[e, STEP_BASE]
        sync()
        adaptive = settings[ERROR_ORDER] > 0.0
        rtol, atol = settings[RTOL], settings[ATOL]
        factor_min, factor_max = settings[FACTOR_MIN], settings[FACTOR_MAX]
        S = save_t.size
        done = False
        if n_grad == 0.0:
            loss = rhs(W, RY, RF, e, E, X, Y, tid, buf, red)
            n_grad = 1.0
            if not (math.isfinite(loss) and math.isfinite(norm(W, RF, e, E, tid, red))):
                status = NONFINITE
                done = True
        if not done and h <= 0.0:
            if adaptive:
                h = min(initial_step(W, e, E, X, Y, tid, buf, red, settings), settings[DT_MAX])
                n_grad += 1.0
            else:
                h = settings[FIXED_DT]
        if not done:
            k_end = min(S, int(settings[CHUNK_END]))
            while k < S and save_t[k] <= t:
                record(W, e, E, tid, red, out, snaps, k, loss, n_grad, n_steps)
                k += 1
            attempts = 0.0
            while k < k_end and attempts < settings[CHUNK_ATTEMPTS]:
                if n_steps + n_rej - step_base >= settings[MAX_STEPS_]:
                    status = MAX_STEPS
                    break
                attempts += 1.0
                remaining = save_t[k] - t
                hit = h >= remaining * (1.0 - 1e-12)
                h_try = remaining if hit else h
                err, used, loss_new = attempt(W, e, E, X, Y, tid, buf, red, tab, h_try, rtol, atol)
                n_grad += used
                finite = math.isfinite(loss_new) and math.isfinite(err)
                if adaptive:
                    accepted = finite and err <= 1.0
                    fmax = 1.0 if rej_last > 0.0 else factor_max
                    factor = step_factor(err if finite else math.nan, err_prev, settings[ERROR_ORDER],
                                         settings[SAFETY], factor_min, fmax)
                    if not accepted:
                        n_rej += 1.0
                        h = h_try * factor
                        rej_last = 1.0
                        if h < settings[DT_MIN_] or h <= max(1e-14 * abs(t), 1e-300):
                            status = DT_MIN
                            break
                        continue
                    h_next = h_try * factor
                    h = max(h, h_next) if hit and h_try < h else h_next
                    h = min(h, settings[DT_MAX])
                    err_prev = max(err, 1e-4)
                    rej_last = 0.0
                elif not finite:
                    status = NONFINITE
                    break
                t = save_t[k] if hit else t + h_try
                copy(W, RY, RYN, e, E, tid)
                copy(W, RF, RFN, e, E, tid)
                loss = loss_new
                n_steps += 1.0
                grad_norm = norm(W, RF, e, E, tid, red)
                if not math.isfinite(grad_norm):
                    status = NONFINITE
                    break
                if hit:
                    record(W, e, E, tid, red, out, snaps, k, loss, n_grad, n_steps)
                    k += 1
                if norm(W, RY, e, E, tid, red) > settings[STOP_NORM_ABOVE]:
                    status = STOP_NORM
                    break
                if grad_norm < settings[STOP_GRAD_BELOW]:
                    status = STOP_GRAD
                    break
            if status == RUNNING and k == S:
                status = SUCCESS
        if tid == 0:
            states[e, T_], states[e, H], states[e, ERR_PREV] = t, h, err_prev
            states[e, N_STEPS], states[e, N_REJECTED], states[e, N_GRAD] = n_steps, n_rej, n_grad
            states[e, STATUS], states[e, N_SAVED], states[e, LOSS] = status, k, loss
            states[e, REJECTED_LAST] = rej_last

    # Kernels are cached on disk (numba-cuda's cache, keyed by the kernel's code and closure): on an H100
    # host the first call at E = 1024 took 17.2 s, the same call in a new process 2.8 s. SOURCES, read in
    # the kernel so that it is part of the closure, adds the plugin sources the closure misses to the key.
    SOURCES = source_digest(f, df, value, d1, control.step_factor)
    cache = _cacheable(dev_f, dev_df, dev_value, dev_d1)

    if BLOCK:
        @cuda.jit(cache=cache)
        def kernel(W, X, Y, tab, save_t, settings, states, out, snaps):
            if SOURCES < 0:  # never: the digest is non-negative
                return
            e = cuda.blockIdx.x
            tid = cuda.threadIdx.x
            buf = cuda.shared.array((ROWS, STRIDE), np.float64)
            red = cuda.shared.array(T, np.float64)
            if states[e, STATUS] == RUNNING:
                member(e, cuda.gridDim.x, tid, W[e], X, Y, tab, save_t, settings, states, out, snaps, buf, red)
    else:
        @cuda.jit(cache=cache)
        def kernel(W, X, Y, tab, save_t, settings, states, out, snaps):
            if SOURCES < 0:  # never: the digest is non-negative
                return
            e = cuda.grid(1)
            E = states.shape[0]
            buf = cuda.local.array((ROWS, 1), np.float64)
            red = cuda.local.array(1, np.float64)
            if e < E and states[e, STATUS] == RUNNING:
                member(e, E, 0, W, X, Y, tab, save_t, settings, states, out, snaps, buf, red)

    return kernel, g


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
            self.kernel, self.geometry = _kernel(act.f, act.df, loss_spec.value, loss_spec.d1, geometry.widths,
                                                 geometry.bias, int(n_points), layout, self.threads, chunk,
                                                 (act.name, loss_spec.name))
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
