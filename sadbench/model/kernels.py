"""numba kernels for the loss and gradient of a fully connected network (SCIENCE.md §1).

A *problem* is the tuple ``(X, Y, widths, bias, work)``: data (n, d) and (n, k), the int64 widths
``[d, h1, ..., k]``, 1 if every layer has a bias, and a float64 scratch vector of :func:`work_size` entries
(one per ensemble member). The flat parameter layout is, per layer, W (out × in, row-major) then b. Kernels
never allocate: all intermediate arrays are views into ``work``.

How the passes are laid out for the vectoriser (measured: benchmarks/gradient_speed.py):

- The data points are processed in chunks of at most :data:`CHUNK` points, so the scratch does not grow with
  n (``work_size`` is O(CHUNK·Σ widths + n·k)) and one chunk's activations stay in the L1/L2 cache; the
  parameter-space sums (∇W, ∇b, Hessian rows) accumulate over the chunks.
- Inside a chunk every layer is **feature-major**: a (width, c) block whose rows run over the c points, so
  each inner loop is a contiguous stream over points (AVX2/AVX-512, whatever the widths):
  the affine maps Z = W·A + b and δ_prev = Wᵀ·δ are axpy updates of whole rows in register blocks of four
  destination by four source rows (sixteen multiply-adds per eight loads and four stores; the bias or the
  zeroing is folded into the first block); the weight gradient δ·Aᵀ is contiguous dot products, eight at a
  time (two rows of δ by four of A) sharing their loads, with the bias gradient's row sums in the same pass;
  σ(Z) and σ′(Z) are computed in one contiguous pass during the forward pass and σ′(Z) is kept for the
  backward pass.
- The passes are compiled once per machine (cached on disk) and receive the plugin-specific element-wise
  loops as first-class functions: σ and σ′ in one loop (:func:`activation_loops`; the built-in activations
  are force-inlined and share their exponential/erfc between σ and σ′), σ″, and the loss terms
  (:func:`loss_loop`). Building the kernels of a new activation × loss compiles only those loops and five
  one-line entry points (:func:`first_class` avoids re-linking the passes), well under a second.

:mod:`sadbench.model.second_order` explains the Hessian passes, which are compiled here with the building blocks
they share, so that numba's disk cache of all of them is invalidated together.

**Working precision.** The gradient passes are compiled for float64 and float32 arrays, the same code (one
overload each; :data:`WORKING` holds each precision's types; the float32 ones only once a float32 kernel is
built, :func:`passes`). In float32 (``precision="float32"``) the entry point keeps the float64 contract of
:mod:`sadbench.signatures`: it rounds θ to float32 into the member's scratch, runs the forward and backward
passes in float32 arithmetic in a float32 view of the scratch (X and Y chunks, Z, σ(Z), σ′(Z), δ, ∇W: twice
as many values per vector register), and writes ∇L back as float64; the loss is summed in float64. The
plugin's scalar functions still run in float64, on float64(z), their results stored as float32. There are
no float32 second-order passes.
"""

import math
from collections import namedtuple
from functools import lru_cache

import numpy as np
from numba import njit, prange, types
from numba.core.types import CompileResultWAP

from sadbench import signatures as sig

# Reassociation lets LLVM vectorise the dot products; it does not assume away NaN or inf, which the
# integrators must still see. The special functions (sadbench.model.vmath) keep their own stricter flags.
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}
#: Options of every pass: no Python zero-division branch in the loops.
KERNEL = dict(fastmath=FASTMATH, error_model="numpy")
#: Options of the small helpers, inlined into each pass (LLVM alwaysinline).
INLINE = dict(fastmath=FASTMATH, error_model="numpy", forceinline=True)

#: Points per chunk: the inner loops' length, and the scratch's size. 64, 128 and 256 measured within the
#: noise of each other on 10 000 points (tanh [1, 16, 16, 1]: 1.23, 1.10, 1.07 ms per gradient; identity
#: [2, 20, 40, 20, 1]: 2.83, 2.49, 2.69 ms); larger chunks cost cache, smaller ones loop overhead.
CHUNK = 128

Kernels = namedtuple("Kernels", "loss_grad functions forward activation loss")
"""``functions`` is the (rhs, hvp, hessian) tuple that integrators receive."""

#: The names of the values :func:`layout` returns, in order.
LAYOUT_FIELDS = ("x", "y", "z", "a", "g", "delta", "s", "rz", "ra", "rd", "l2", "lv", "out", "end", "chunk")


def work_size(widths, n):
    """Scratch float64s one member needs: the gradient, Hessian-vector products and dense Hessians in
    float64, and the float32 gradient, whose regions (counted in float32s) are followed by θ and ∇L in
    float32 (:func:`loss_grad_pass_f32`)."""
    widths = np.asarray(widths, dtype=np.int64)
    end = int(layout(widths, int(n))[-2])
    params = int((widths[1:] * (widths[:-1] + 1)).sum())  # with biases: an upper bound
    return max(end, -(-(end + 2 * params) // 2))


@njit(cache=True)
def layout(widths, n):
    """Offsets into one member's scratch, in float64s. With C = min(n, CHUNK) points per chunk, every region
    but ``out`` holds feature-major (width, c ≤ C) blocks, one per layer (1..L) in layer order, hidden-layer
    regions stopping before the output layer:

    ``x`` Xᵀ (d, c); ``y`` Yᵀ (k, c); ``z`` pre-activations Z; ``a`` activations σ(Z) (hidden); ``g`` σ′(Z)
    (hidden); ``delta`` δ = ∂(sign·L)/∂Z of every layer; second order: ``s`` (Wᵀδ)⊙σ″(Z) (hidden); ``rz``
    R(Z); ``ra`` R(A) (hidden); ``rd`` two R(δ) buffers (max width, c); ``l2`` ℓ″(Z_L)/n (k, c); ``lv`` the
    loss terms (k, c); ``out`` the network outputs (n, k), point-major; ``end``; and C.
    """
    n_layers = widths.size - 1
    total = 0
    max_w = 0
    for l in range(1, n_layers + 1):
        total += widths[l]
        max_w = max(max_w, widths[l])
    k = widths[n_layers]
    hidden = total - k
    C = min(n, CHUNK)
    x = 0
    y = x + widths[0] * C
    z = y + k * C
    a = z + total * C
    g = a + hidden * C
    delta = g + hidden * C
    s = delta + total * C
    rz = s + hidden * C
    ra = rz + total * C
    rd = ra + hidden * C
    l2 = rd + 2 * max_w * C
    lv = l2 + k * C
    out = lv + k * C
    end = out + n * k
    return x, y, z, a, g, delta, s, rz, ra, rd, l2, lv, out, end, C


@njit(cache=True)
def _row_offset(widths, layer):
    """Σ of the widths of layers 1..layer-1: a layer's first row in the per-layer regions."""
    rows = 0
    for l in range(1, layer):
        rows += widths[l]
    return rows


@njit(cache=True)
def _param_offset(widths, bias, layer):
    """Offset of the weights of ``layer`` (0-based: the map from widths[layer] to widths[layer + 1])."""
    offset = 0
    for l in range(layer):
        offset += widths[l + 1] * (widths[l] + bias)
    return offset


@njit(**INLINE)
def _view(work, start, rows, c):
    return work[start : start + rows * c].reshape((rows, c))


@njit(**INLINE)
def _flat(work, start, rows, c):
    return work[start : start + rows * c]


@njit(**INLINE)
def weights(theta, widths, bias, layer):
    """(W (out, in) view, bias offset) of a 0-based layer."""
    fan_in, fan_out = widths[layer], widths[layer + 1]
    p = _param_offset(widths, bias, layer)
    return theta[p : p + fan_out * fan_in].reshape((fan_out, fan_in)), p + fan_out * fan_in


# --- the dense building blocks -------------------------------------------------------------------------
# All take feature-major (rows, c) views; W is the (out, in) weight view of theta.

MAT = types.float64[:, ::1]
VEC = types.float64[::1]
MAT32 = types.float32[:, ::1]
VEC32 = types.float32[::1]
INT = types.int64

# The plugin-specific element-wise loops' types (see below), per working precision.
#: fdf(z, a, g): a = σ(z), g = σ′(z), element-wise
ACT_FDF = types.void(VEC, VEC, VEC)
#: d2(z, s): s *= σ″(z), element-wise (float64 only)
ACT_D2 = types.void(VEC, VEC)
#: loss(z, y, value, d1, d2, scale): value = ℓ(z, y); d1 = scale·∂ℓ/∂z; d2 = scale·∂²ℓ/∂z² if d2.size
LOSS_TERMS = types.void(VEC, VEC, VEC, VEC, VEC, types.float64)

Working = namedtuple("Working", "mat vec fdf terms")
"""A working precision's array types and the first-class types of its element-wise loops."""

WORKING = {
    "float64": Working(MAT, VEC, types.FunctionType(ACT_FDF), types.FunctionType(LOSS_TERMS)),
    "float32": Working(MAT32, VEC32, types.FunctionType(types.void(VEC32, VEC32, VEC32)),
                       types.FunctionType(types.void(VEC32, VEC32, VEC32, VEC32, VEC32, types.float64))),
}
#: The working precisions of the gradient passes, the default first.
PRECISIONS = tuple(WORKING)
_FLOAT32 = []  # (dispatcher, signature) of every pass that compile_float32() compiles


def passes(signature):
    """Decorator of a pass over working-precision arrays, typed by ``signature(working)``: compiled (and
    cached on disk) for float64 when this module loads, and for float32 by :func:`compile_float32`, so
    that a float64 user never compiles the float32 overloads."""

    def compiled(py_func):
        dispatcher = njit(cache=True, **KERNEL)(py_func)
        dispatcher.compile(signature(WORKING["float64"]))
        _FLOAT32.append((dispatcher, signature(WORKING["float32"])))
        return dispatcher

    return compiled


@lru_cache(maxsize=None)
def compile_float32():
    """Compile (or load from numba's cache) the float32 overloads of the passes, once per process."""
    for dispatcher, signature in _FLOAT32:
        dispatcher.compile(signature)


@njit(**INLINE)
def _axpy44(d0, d1, d2, d3, a0, a1, a2, a3, M, j, m, transpose, fresh, c0, c1, c2, c3):
    """Rows j..j+3 of dst += (or, when ``fresh``, = c_r +) the 4×4 block of M (Mᵀ) at (j, m) times rows
    m..m+3 of src: sixteen multiply-adds per four loads and four load-stores, in the registers."""
    if transpose:
        w00, w01, w02, w03 = M[m, j], M[m + 1, j], M[m + 2, j], M[m + 3, j]
        w10, w11, w12, w13 = M[m, j + 1], M[m + 1, j + 1], M[m + 2, j + 1], M[m + 3, j + 1]
        w20, w21, w22, w23 = M[m, j + 2], M[m + 1, j + 2], M[m + 2, j + 2], M[m + 3, j + 2]
        w30, w31, w32, w33 = M[m, j + 3], M[m + 1, j + 3], M[m + 2, j + 3], M[m + 3, j + 3]
    else:
        w00, w01, w02, w03 = M[j, m], M[j, m + 1], M[j, m + 2], M[j, m + 3]
        w10, w11, w12, w13 = M[j + 1, m], M[j + 1, m + 1], M[j + 1, m + 2], M[j + 1, m + 3]
        w20, w21, w22, w23 = M[j + 2, m], M[j + 2, m + 1], M[j + 2, m + 2], M[j + 2, m + 3]
        w30, w31, w32, w33 = M[j + 3, m], M[j + 3, m + 1], M[j + 3, m + 2], M[j + 3, m + 3]
    if fresh:
        for i in range(d0.size):
            x0, x1, x2, x3 = a0[i], a1[i], a2[i], a3[i]
            d0[i] = c0 + w00 * x0 + w01 * x1 + w02 * x2 + w03 * x3
            d1[i] = c1 + w10 * x0 + w11 * x1 + w12 * x2 + w13 * x3
            d2[i] = c2 + w20 * x0 + w21 * x1 + w22 * x2 + w23 * x3
            d3[i] = c3 + w30 * x0 + w31 * x1 + w32 * x2 + w33 * x3
    else:
        for i in range(d0.size):
            x0, x1, x2, x3 = a0[i], a1[i], a2[i], a3[i]
            d0[i] += w00 * x0 + w01 * x1 + w02 * x2 + w03 * x3
            d1[i] += w10 * x0 + w11 * x1 + w12 * x2 + w13 * x3
            d2[i] += w20 * x0 + w21 * x1 + w22 * x2 + w23 * x3
            d3[i] += w30 * x0 + w31 * x1 + w32 * x2 + w33 * x3


@njit(**INLINE)
def _axpy41(d0, d1, d2, d3, a0, w0, w1, w2, w3, fresh, c0, c1, c2, c3):
    if fresh:
        for i in range(d0.size):
            x = a0[i]
            d0[i] = c0 + w0 * x
            d1[i] = c1 + w1 * x
            d2[i] = c2 + w2 * x
            d3[i] = c3 + w3 * x
    else:
        for i in range(d0.size):
            x = a0[i]
            d0[i] += w0 * x
            d1[i] += w1 * x
            d2[i] += w2 * x
            d3[i] += w3 * x


@njit(**INLINE)
def _axpy4(dst, a0, a1, a2, a3, w0, w1, w2, w3, fresh, c):
    if fresh:
        for i in range(dst.size):
            dst[i] = c + w0 * a0[i] + w1 * a1[i] + w2 * a2[i] + w3 * a3[i]
    else:
        for i in range(dst.size):
            dst[i] += w0 * a0[i] + w1 * a1[i] + w2 * a2[i] + w3 * a3[i]


@njit(**INLINE)
def _axpy1(dst, a0, w0, fresh, c):
    if fresh:
        for i in range(dst.size):
            dst[i] = c + w0 * a0[i]
    else:
        for i in range(dst.size):
            dst[i] += w0 * a0[i]


@njit(**INLINE)
def _w(M, j, m, transpose):
    return M[m, j] if transpose else M[j, m]


@njit(**INLINE)
def _matmul(M, src, dst, transpose, init, values):
    """dst (+)= M·src (M is (rows(dst), rows(src))) or Mᵀ·src (M is (rows(src), rows(dst))), as axpy updates
    of whole rows in blocks of four destination by four source rows. ``init``: 0 adds to dst, 1 overwrites
    it, 2 overwrites it with values[j] + (M·src)[j] (a bias)."""
    n_src = src.shape[0]
    n_dst = dst.shape[0]
    j = 0
    while j + 4 <= n_dst:
        d0, d1, d2, d3 = dst[j], dst[j + 1], dst[j + 2], dst[j + 3]
        c0 = c1 = c2 = c3 = dst.dtype.type(0)  # the working precision's zero: no float64 promotion
        if init == 2:
            c0, c1, c2, c3 = values[j], values[j + 1], values[j + 2], values[j + 3]
        fresh = init > 0
        m = 0
        while m + 4 <= n_src:
            _axpy44(d0, d1, d2, d3, src[m], src[m + 1], src[m + 2], src[m + 3], M, j, m, transpose, fresh,
                    c0, c1, c2, c3)
            fresh = False
            m += 4
        while m < n_src:
            _axpy41(d0, d1, d2, d3, src[m], _w(M, j, m, transpose), _w(M, j + 1, m, transpose),
                    _w(M, j + 2, m, transpose), _w(M, j + 3, m, transpose), fresh, c0, c1, c2, c3)
            fresh = False
            m += 1
        j += 4
    while j < n_dst:
        d = dst[j]
        c = values[j] if init == 2 else dst.dtype.type(0)
        fresh = init > 0
        m = 0
        while m + 4 <= n_src:
            _axpy4(d, src[m], src[m + 1], src[m + 2], src[m + 3], _w(M, j, m, transpose), _w(M, j, m + 1, transpose),
                   _w(M, j, m + 2, transpose), _w(M, j, m + 3, transpose), fresh, c)
            fresh = False
            m += 4
        while m < n_src:
            _axpy1(d, src[m], _w(M, j, m, transpose), fresh, c)
            fresh = False
            m += 1
        j += 1


@passes(lambda w: types.void(w.mat, w.mat, w.mat, INT, w.vec))
def matmul(M, src, dst, init, values):
    """dst (+)= M·src, M (rows(dst), rows(src)); ``init`` as for :func:`_matmul`."""
    _matmul(M, src, dst, False, init, values)


@passes(lambda w: types.void(w.mat, w.mat, w.mat, INT))
def matmul_t(M, src, dst, init):
    """dst (+)= Mᵀ·src, M (rows(src), rows(dst)); ``init`` 0 adds, 1 overwrites."""
    _matmul(M, src, dst, True, init, M[0])


@njit(**INLINE)
def _dot24(a0, a1, b0, b1, b2, b3):
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = a0.dtype.type(0)
    for i in range(a0.size):
        x, y = a0[i], a1[i]
        u0, u1, u2, u3 = b0[i], b1[i], b2[i], b3[i]
        s00 += x * u0
        s01 += x * u1
        s02 += x * u2
        s03 += x * u3
        s10 += y * u0
        s11 += y * u1
        s12 += y * u2
        s13 += y * u3
    return s00, s01, s02, s03, s10, s11, s12, s13


@njit(**INLINE)
def _dot4(a, b0, b1, b2, b3):
    s0 = s1 = s2 = s3 = a.dtype.type(0)
    for i in range(a.size):
        x = a[i]
        s0 += x * b0[i]
        s1 += x * b1[i]
        s2 += x * b2[i]
        s3 += x * b3[i]
    return s0, s1, s2, s3


@njit(**INLINE)
def _dot(a, b):
    s = a.dtype.type(0)
    for i in range(a.size):
        s += a[i] * b[i]
    return s


@njit(**INLINE)
def _sum(a):
    s = a.dtype.type(0)
    for i in range(a.size):
        s += a[i]
    return s


@passes(lambda w: types.void(w.mat, w.mat, w.mat, w.vec))
def outer_acc(delta, A, G, sums):
    """G += delta·Aᵀ: G[j, m] += Σ_i delta[j, i]·A[m, i], contiguous dot products eight at a time (two rows
    of delta by four of A) sharing their loads; and sums[j] += Σ_i delta[j, i] unless sums is empty."""
    n_out, n_in = delta.shape[0], A.shape[0]
    if sums.size:
        for j in range(n_out):
            sums[j] += _sum(delta[j])
    if n_in < 4 <= n_out:  # e.g. the first layer of a 1-D problem: four rows of delta per row of A
        for m in range(n_in):
            am = A[m]
            j = 0
            while j + 4 <= n_out:
                s0, s1, s2, s3 = _dot4(am, delta[j], delta[j + 1], delta[j + 2], delta[j + 3])
                G[j, m] += s0
                G[j + 1, m] += s1
                G[j + 2, m] += s2
                G[j + 3, m] += s3
                j += 4
            while j < n_out:
                G[j, m] += _dot(am, delta[j])
                j += 1
        return
    j = 0
    while j < n_out:
        pair = j + 2 <= n_out
        d0, d1 = delta[j], delta[j + 1 if pair else j]
        m = 0
        while m + 4 <= n_in:
            if pair:
                s00, s01, s02, s03, s10, s11, s12, s13 = _dot24(d0, d1, A[m], A[m + 1], A[m + 2], A[m + 3])
                G[j + 1, m] += s10
                G[j + 1, m + 1] += s11
                G[j + 1, m + 2] += s12
                G[j + 1, m + 3] += s13
            else:
                s00, s01, s02, s03 = _dot4(d0, A[m], A[m + 1], A[m + 2], A[m + 3])
            G[j, m] += s00
            G[j, m + 1] += s01
            G[j, m + 2] += s02
            G[j, m + 3] += s03
            m += 4
        while m < n_in:
            G[j, m] += _dot(d0, A[m])
            if pair:
                G[j + 1, m] += _dot(d1, A[m])
            m += 1
        j += 2 if pair else 1


@njit(**INLINE)
def fill_rows(dst, values, has_values):
    for j in range(dst.shape[0]):
        c = values[j] if has_values else 0.0
        d = dst[j]
        for i in range(d.size):
            d[i] = c


# --- the plugin-specific element-wise loops ------------------------------------------------------------
# The only code compiled per activation (σ, σ′ in one pass; σ″) and per loss; the passes below receive
# them as first-class functions. Compiled without fast-math flags of their own, so that a third-party
# plugin function without flags is not compiled with looser ones; the built-ins bring their own. In float32
# they call the plugin's (float64) scalar functions on float64(z) and store float32.

ELEMENTWISE = dict(error_model="numpy")


@lru_cache(maxsize=None)
def activation_loops(f, df, d2f, precision="float64"):
    """The compiled (fdf, d2) loops of one activation in a working precision (d2 None without σ″, and in
    float32, which has no second-order passes)."""

    @njit(WORKING[precision].fdf.signature, **ELEMENTWISE)
    def fdf(z, a, g):
        for i in range(z.size):
            x = np.float64(z[i])
            a[i] = f(x)
            g[i] = df(x)

    if d2f is None or precision != "float64":
        return fdf, None

    @njit(ACT_D2, **ELEMENTWISE)
    def d2(z, s):
        for i in range(z.size):
            s[i] *= d2f(z[i])

    return fdf, d2


@lru_cache(maxsize=None)
def loss_loop(value, d1, d2, precision="float64"):
    """The compiled element-wise loop of one loss in a working precision."""

    @njit(WORKING[precision].terms.signature, **ELEMENTWISE)
    def terms(z, y, values, g1, g2, scale):
        for i in range(z.size):
            zi, yi = np.float64(z[i]), np.float64(y[i])
            values[i] = value(zi, yi)
            g1[i] = scale * d1(zi, yi)
        if g2.size:
            for i in range(z.size):
                g2[i] = scale * d2(np.float64(z[i]), np.float64(y[i]))

    return terms


# --- the passes over one chunk of points ---------------------------------------------------------------

ACT_FN = types.FunctionType(ACT_FDF)
D2_FN = types.FunctionType(ACT_D2)
LOSS_FN = types.FunctionType(LOSS_TERMS)
WIDTHS = types.int64[::1]


@njit(**INLINE)
def _transpose_rows(src, start, dst):
    """dst[j, i] = src[start + i, j], one contiguous row of dst at a time: with the loop over the points
    outside, a chunk of 64 points with d = 1 took 0.25–0.37 µs to load, with it inside 0.05–0.12 µs
    (benchmarks/gradient_speed.py --breakdown)."""
    for j in range(dst.shape[0]):
        row = dst[j]
        for i in range(row.size):
            row[i] = src[start + i, j]


@passes(lambda w: types.void(sig.MATRIX, sig.MATRIX, WIDTHS, w.vec, INT, INT))
def load_chunk(X, Y, widths, work, start, c):
    """Copy Xᵀ and Yᵀ of points start .. start + c - 1 into the scratch (rounded to its precision)."""
    lay = layout(widths, X.shape[0])
    _transpose_rows(X, start, _view(work, lay[0], X.shape[1], c))
    _transpose_rows(Y, start, _view(work, lay[1], Y.shape[1], c))


@passes(lambda w: types.void(w.vec, WIDTHS, INT, w.vec, INT, INT, w.fdf))
def propagate(theta, widths, bias, work, n, c, fdf):
    """Fill Z, σ(Z) and σ′(Z) of every layer for a chunk of c points whose Xᵀ is in the scratch."""
    x0, _, z0, a0, g0, _, _, _, _, _, _, _, _, _, _ = layout(widths, n)
    n_layers = widths.size - 1
    src = _view(work, x0, widths[0], c)
    row = 0
    for l in range(n_layers):
        fan_out = widths[l + 1]
        W, pb = weights(theta, widths, bias, l)
        Z = _view(work, z0 + row * c, fan_out, c)
        matmul(W, src, Z, 2 if bias else 1, theta[pb : pb + fan_out])
        if l < n_layers - 1:
            fdf(_flat(work, z0 + row * c, fan_out, c), _flat(work, a0 + row * c, fan_out, c),
                _flat(work, g0 + row * c, fan_out, c))
            src = _view(work, a0 + row * c, fan_out, c)
        row += fan_out


@passes(lambda w: types.float64(WIDTHS, w.vec, INT, INT, types.float64, w.terms, types.boolean))
def loss_terms(widths, work, n, c, scale, terms, second):
    """After a chunk's forward pass: δ of the output layer (scale·ℓ′), and ℓ″/n when ``second``; returns the
    chunk's Σ ℓ (summed in float64)."""
    n_layers = widths.size - 1
    k = widths[n_layers]
    _, y0, z0, _, _, d0, _, _, _, _, l20, lv0, _, _, _ = layout(widths, n)
    last = _row_offset(widths, n_layers) * c
    values = _flat(work, lv0, k, c)
    terms(_flat(work, z0 + last, k, c), _flat(work, y0, k, c), values, _flat(work, d0 + last, k, c),
          _flat(work, l20, k if second else 0, c), scale)
    total = 0.0
    for i in range(values.size):
        total += values[i]
    return total


@passes(lambda w: types.void(w.vec, WIDTHS, INT, w.vec, INT, INT, w.vec, types.boolean))
def backward(theta, widths, bias, work, n, c, grad, weight_grads):
    """Given δ of the output layer, fill every layer's δ for a chunk and, if ``weight_grads``, add the chunk's
    ∇W, ∇b into ``grad``."""
    x0, _, _, a0, g0, d0, _, _, _, _, _, _, _, _, _ = layout(widths, n)
    n_layers = widths.size - 1
    row = _row_offset(widths, n_layers)
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out = widths[l], widths[l + 1]
        W, pb = weights(theta, widths, bias, l)
        delta = _view(work, d0 + row * c, fan_out, c)
        if weight_grads:
            gW, _ = weights(grad, widths, bias, l)
            outer_acc(delta, _view(work, x0 if l == 0 else a0 + (row - fan_in) * c, fan_in, c), gW,
                      grad[pb : pb + (fan_out if bias else 0)])
        if l > 0:
            matmul_t(W, delta, _view(work, d0 + (row - fan_in) * c, fan_in, c), 1)
            pf = _flat(work, d0 + (row - fan_in) * c, fan_in, c)
            gf = _flat(work, g0 + (row - fan_in) * c, fan_in, c)
            for i in range(pf.size):
                pf[i] *= gf[i]
        row -= fan_in


def _loss_grad_signature(w):
    return types.float64(sig.MATRIX, sig.MATRIX, WIDTHS, INT, w.vec, w.vec, w.vec, types.float64, w.fdf, w.terms)


@passes(_loss_grad_signature)
def loss_grad_pass(X, Y, widths, bias, work, theta, grad, sign, fdf, terms):
    """L(θ), and ``sign * ∇L(θ)`` into ``grad``, in the precision of ``work``, ``theta`` and ``grad``."""
    n = X.shape[0]
    C = layout(widths, n)[-1]
    grad[:] = 0.0
    total = 0.0
    for start in range(0, n, C):
        c = min(C, n - start)
        load_chunk(X, Y, widths, work, start, c)
        propagate(theta, widths, bias, work, n, c, fdf)
        total += loss_terms(widths, work, n, c, sign / n, terms, False)
        backward(theta, widths, bias, work, n, c, grad, True)
    return total / n


@njit(cache=True, **KERNEL)  # compiled by compile_float32()
def loss_grad_pass_f32(X, Y, widths, bias, work, theta, grad, sign, fdf, terms):
    """:func:`loss_grad_pass` in float32 arithmetic for float64 ``work``, ``theta`` and ``grad``: θ rounded to
    float32, the passes in a float32 view of the scratch (regions counted in float32s, then θ and ∇L;
    :func:`work_size` leaves room), ∇L widened."""
    single = work.view(np.float32)
    P = theta.size
    end = layout(widths, X.shape[0])[-2]
    theta32 = single[end : end + P]
    grad32 = single[end + P : end + 2 * P]
    for p in range(P):
        theta32[p] = theta[p]
    total = loss_grad_pass(X, Y, widths, bias, single, theta32, grad32, sign, fdf, terms)
    for p in range(P):
        grad[p] = grad32[p]
    return total


_FLOAT32.append((loss_grad_pass_f32, types.float64(sig.MATRIX, sig.MATRIX, WIDTHS, INT, VEC, VEC, VEC, types.float64,
                                                   WORKING["float32"].fdf, WORKING["float32"].terms)))


@njit(sig.MATRIX(VEC, sig.MATRIX, types.int64[::1], INT, VEC, ACT_FN), cache=True, **KERNEL)
def forward_pass(theta, X, widths, bias, work, fdf):
    """Run the forward pass; return the network outputs (n, k), a view into the scratch."""
    n = X.shape[0]
    k = widths[widths.size - 1]
    x0, _, z0, _, _, _, _, _, _, _, _, _, out0, _, C = layout(widths, n)
    out = work[out0 : out0 + n * k].reshape((n, k))
    last = _row_offset(widths, widths.size - 1)
    for start in range(0, n, C):
        c = min(C, n - start)
        _transpose_rows(X, start, _view(work, x0, widths[0], c))
        propagate(theta, widths, bias, work, n, c, fdf)
        zl = _view(work, z0 + last * c, k, c)
        for i in range(c):
            for j in range(k):
                out[start + i, j] = zl[j, i]
    return out


# --- second order: the R-operator passes (explained in sadbench.model.second_order; compiled here, with the
# building blocks they use, so that numba's disk cache of them is invalidated together) ---------------


@njit(types.float64(sig.PROBLEM, INT, INT, VEC, ACT_FN, D2_FN, LOSS_FN), cache=True, **KERNEL)
def prepare(prob, start, c, theta, fdf, d2, terms):
    """For a chunk: forward and backward passes (sign +1, δ only), S = (Wᵀδ)⊙σ″(Z) and ℓ''/n. Returns the
    chunk's Σ ℓ."""
    X, Y, widths, bias, work = prob
    n = X.shape[0]
    n_layers = widths.size - 1
    _, _, z0, _, _, d0, s0, _, _, _, _, _, _, _, _ = layout(widths, n)
    load_chunk(X, Y, widths, work, start, c)
    propagate(theta, widths, bias, work, n, c, fdf)
    total = loss_terms(widths, work, n, c, 1.0 / n, terms, True)
    backward(theta, widths, bias, work, n, c, theta, False)
    row = 0
    for l in range(1, n_layers):  # S of hidden layer l: the weights l (0-based) read it
        w = widths[l]
        W, _ = weights(theta, widths, bias, l)
        matmul_t(W, _view(work, d0 + (row + w) * c, widths[l + 1], c), _view(work, s0 + row * c, w, c), 1)
        d2(_flat(work, z0 + row * c, w, c), _flat(work, s0 + row * c, w, c))
        row += w
    return total


@njit(types.void(VEC, VEC, types.int64[::1], INT, VEC, INT, INT, VEC, INT, INT, INT), cache=True, **KERNEL)
def r_pass(theta, v, widths, bias, work, n, c, out, first, unit_row, unit_col):
    """Add a chunk's part of ∇²L·v to ``out``, after ``prepare``. ``v`` is zero in the layers before
    ``first``. With ``unit_row`` ≥ 0, v is the unit vector of weight (unit_row, unit_col) of layer ``first``
    (of its bias when ``unit_col`` < 0) and ``v`` itself is not read."""
    x0, _, _, a0, g0, d0, s0, rz0, ra0, rd0, l20, _, _, _, C = layout(widths, n)
    n_layers = widths.size - 1
    unit = unit_row >= 0
    max_w = 0
    for l in range(1, n_layers + 1):
        max_w = max(max_w, widths[l])
    # R-forward, from the first layer where v is not zero
    row = _row_offset(widths, first + 1)
    for l in range(first, n_layers):
        fan_in, fan_out = widths[l], widths[l + 1]
        W, _ = weights(theta, widths, bias, l)
        RZ = _view(work, rz0 + row * c, fan_out, c)
        A_in = _view(work, x0 if l == 0 else a0 + (row - fan_in) * c, fan_in, c)
        if unit:
            if l == first:
                fill_rows(RZ, v, False)
                target = RZ[unit_row]
                if unit_col >= 0:
                    source = A_in[unit_col]
                    for i in range(c):
                        target[i] = source[i]
                else:
                    for i in range(c):
                        target[i] = 1.0
        else:
            V, pc = weights(v, widths, bias, l)
            matmul(V, A_in, RZ, 2 if bias else 1, v[pc : pc + fan_out])
        if l > first:
            matmul(W, _view(work, ra0 + (row - fan_in) * c, fan_in, c), RZ, 1 if unit else 0, v)
        if l < n_layers - 1:
            rzf = _flat(work, rz0 + row * c, fan_out, c)
            raf = _flat(work, ra0 + row * c, fan_out, c)
            gf = _flat(work, g0 + row * c, fan_out, c)
            for i in range(rzf.size):
                raf[i] = gf[i] * rzf[i]
        row += fan_out
    # R-backward
    row = _row_offset(widths, n_layers)
    k = widths[n_layers]
    rdf = _flat(work, rd0, k, c)
    rzf = _flat(work, rz0 + row * c, k, c)
    l2 = _flat(work, l20, k, c)
    for i in range(rdf.size):
        rdf[i] = l2[i] * rzf[i]
    use_second = False
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out = widths[l], widths[l + 1]
        W, pb = weights(theta, widths, bias, l)
        oW, _ = weights(out, widths, bias, l)
        rdelta = _view(work, rd0 + (max_w * C if use_second else 0), fan_out, c)
        delta = _view(work, d0 + row * c, fan_out, c)
        outer_acc(rdelta, _view(work, x0 if l == 0 else a0 + (row - fan_in) * c, fan_in, c), oW,
                  out[pb : pb + (fan_out if bias else 0)])
        if l > first:
            outer_acc(delta, _view(work, ra0 + (row - fan_in) * c, fan_in, c), oW, out[:0])
        if l > 0:
            other = 0 if use_second else max_w * C
            rprev = _view(work, rd0 + other, fan_in, c)
            matmul_t(W, rdelta, rprev, 1)
            if l >= first:
                if unit:
                    if l == first and unit_col >= 0:
                        target = rprev[unit_col]
                        source = delta[unit_row]
                        for i in range(c):
                            target[i] += source[i]
                else:
                    V, _ = weights(v, widths, bias, l)
                    matmul_t(V, delta, rprev, 0)
            start = row - fan_in
            rpf = _flat(work, rd0 + other, fan_in, c)
            gf = _flat(work, g0 + start * c, fan_in, c)
            if l - 1 >= first:
                sf = _flat(work, s0 + start * c, fan_in, c)
                rzf = _flat(work, rz0 + start * c, fan_in, c)
                for i in range(rpf.size):
                    rpf[i] = rpf[i] * gf[i] + sf[i] * rzf[i]
            else:
                for i in range(rpf.size):
                    rpf[i] *= gf[i]
            use_second = not use_second
        row -= fan_in


@njit(types.float64(sig.PROBLEM, VEC, VEC, VEC, ACT_FN, D2_FN, LOSS_FN), cache=True, **KERNEL)
def hvp_pass(prob, theta, v, out, fdf, d2, terms):
    """Write ∇²L(θ)·v into ``out``; return L(θ)."""
    X, Y, widths, bias, work = prob
    n = X.shape[0]
    C = layout(widths, n)[-1]
    out[:] = 0.0
    total = 0.0
    for start in range(0, n, C):
        c = min(C, n - start)
        total += prepare(prob, start, c, theta, fdf, d2, terms)
        r_pass(theta, v, widths, bias, work, n, c, out, 0, -1, -1)
    return total / n


@njit(types.float64(sig.PROBLEM, VEC, sig.MATRIX, ACT_FN, D2_FN, LOSS_FN), cache=True, **KERNEL)
def hessian_pass(prob, theta, H, fdf, d2, terms):
    """Write the dense ∇²L(θ) (P × P) into ``H``; return L(θ)."""
    X, Y, widths, bias, work = prob
    n = X.shape[0]
    C = layout(widths, n)[-1]
    P = theta.size
    H[:, :] = 0.0
    total = 0.0
    for start in range(0, n, C):
        c = min(C, n - start)
        total += prepare(prob, start, c, theta, fdf, d2, terms)
        for l in range(widths.size - 1):
            fan_in, fan_out = widths[l], widths[l + 1]
            p = _param_offset(widths, bias, l)
            for j in range(fan_out):
                for m in range(fan_in):
                    r_pass(theta, theta, widths, bias, work, n, c, H[p + j * fan_in + m], l, j, m)
            if bias:
                for j in range(fan_out):
                    r_pass(theta, theta, widths, bias, work, n, c, H[p + fan_out * fan_in + j], l, j, -1)
    for p in range(P):
        for q in range(p):
            s = 0.5 * (H[p, q] + H[q, p])
            H[p, q] = s
            H[q, p] = s
    return total / n


@njit(sig.HVP, cache=True)
def _no_hvp(prob, theta, v, out):
    """For activations without σ″: NaN, which second-order methods report as a failure."""
    out[:] = math.nan
    return math.nan


@njit(sig.HESSIAN, cache=True)
def _no_hessian(prob, theta, H):
    H[:, :] = math.nan
    return math.nan


def first_class(dispatcher, signature=None):
    """A compiled function as a first-class function constant: a closure that calls it embeds its address
    instead of linking in, re-optimising and re-generating its machine code, which is what makes building
    the kernels of a new activation × loss take a fraction of a second. ``signature`` picks the overload of
    a function that has several (a pass compiled for both precisions)."""
    if signature is None:
        (args,) = dispatcher.signatures
    else:
        args = signature.args
    return CompileResultWAP(dispatcher.overloads[args])


@lru_cache(maxsize=None)
def _kernels_for(f, df, d2f, loss_value, loss_d1, loss_d2, precision="float64"):
    """The per-combination entry points: small closures over the element-wise loops that call the cached
    passes through :func:`first_class` constants. In float32 the gradient is float32's and the forward pass
    (network outputs) float64's; the second-order functions return NaN (no float32 passes)."""
    from sadbench.model.second_order import make_second_order

    single = precision == "float32"
    fdf_loop, d2_loop = activation_loops(f, df, d2f, precision)
    terms_loop = loss_loop(loss_value, loss_d1, loss_d2, precision)
    fdf, terms = first_class(fdf_loop), first_class(terms_loop)
    if single:
        compile_float32()
        loss_grad_fn = first_class(loss_grad_pass_f32)
    else:
        loss_grad_fn = first_class(loss_grad_pass, _loss_grad_signature(WORKING["float64"]))

    @njit(sig.LOSS_GRAD, **KERNEL)
    def loss_grad(prob, theta, grad, sign):
        """Return L(θ) and write ``sign * ∇L(θ)`` into ``grad``."""
        X, Y, widths, bias, work = prob
        return loss_grad_fn(X, Y, widths, bias, work, theta, grad, sign, fdf, terms)

    @njit(sig.RHS, **KERNEL)
    def rhs(prob, theta, out):
        """The flow's vector field: write -∇L(θ) into ``out``, return L(θ)."""
        X, Y, widths, bias, work = prob
        return loss_grad_fn(X, Y, widths, bias, work, theta, out, -1.0, fdf, terms)

    if single:
        return _kernels_for(f, df, d2f, loss_value, loss_d1, loss_d2)[0], loss_grad, (rhs, _no_hvp, _no_hessian)
    forward_fn = first_class(forward_pass)

    @njit(sig.MATRIX(VEC, sig.MATRIX, types.int64[::1], INT, VEC), **KERNEL)
    def forward(theta, X, widths, bias, work):
        """Fill the scratch with the forward pass; return the output view (n, k)."""
        return forward_fn(theta, X, widths, bias, work, fdf)

    if d2_loop is None:
        hvp, hessian = _no_hvp, _no_hessian
    else:
        hvp, hessian = make_second_order(fdf_loop, d2_loop, terms_loop)
    return forward, loss_grad, (rhs, hvp, hessian)


@njit(types.void(types.FunctionType(sig.LOSS_GRAD), sig.MATRIX, sig.MATRIX, types.int64[::1], types.int64,
                 sig.MATRIX, sig.MATRIX, sig.MATRIX, sig.VECTOR), parallel=True, cache=True)
def loss_grad_ensemble(loss_grad, X, Y, widths, bias, work, thetas, grads, losses):
    """L and ∇L for every row of ``thetas``, members spread over threads."""
    for e in prange(thetas.shape[0]):
        losses[e] = loss_grad((X, Y, widths, bias, work[e]), thetas[e], grads[e], 1.0)


def gradient_kernels(activation, loss, precision="float64"):
    """Compiled kernels for one activation and loss (specs from :mod:`sadbench.specs`) whose gradient passes
    compute in ``precision`` (one of :data:`PRECISIONS`), built once."""
    forward, loss_grad, functions = _kernels_for(
        activation.f, activation.df, activation.d2f, loss.value, loss.d1, loss.d2, precision
    )
    return Kernels(loss_grad, functions, forward, activation, loss)
