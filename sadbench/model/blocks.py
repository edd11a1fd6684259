"""The dense products of the passes, register-blocked for the vectoriser.

All take feature-major (rows, c) views (:mod:`sadbench.model.layout`); W is the (out, in) weight view of θ.
The affine maps Z = W·A + b and δ_prev = Wᵀ·δ are axpy updates of whole rows in register blocks of four
destination by four source rows (sixteen multiply-adds per eight loads and four stores; the bias or the
zeroing is folded into the first block); the weight gradient δ·Aᵀ is contiguous dot products, eight at a
time (two rows of δ by four of A) sharing their loads, with the bias gradient's row sums in the same pass
(measured: benchmarks/gradient_speed.py).
"""

from numba import njit, types

from sadbench.jit import first_class
from sadbench.model.precision import FASTMATH, INLINE, INT, WORKING, passes

#: The product helpers are spliced into their callers by numba (``inline="always"``) rather than compiled on
#: their own and inlined by LLVM: each is called from one place, and compiling them separately first cost
#: seconds of a first run (measured with a numba compile-event listener).
SPLICED = dict(fastmath=FASTMATH, error_model="numpy", inline="always")


@njit(**SPLICED)
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


@njit(**SPLICED)
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


@njit(**SPLICED)
def _axpy4(dst, a0, a1, a2, a3, w0, w1, w2, w3, fresh, c):
    if fresh:
        for i in range(dst.size):
            dst[i] = c + w0 * a0[i] + w1 * a1[i] + w2 * a2[i] + w3 * a3[i]
    else:
        for i in range(dst.size):
            dst[i] += w0 * a0[i] + w1 * a1[i] + w2 * a2[i] + w3 * a3[i]


@njit(**SPLICED)
def _axpy1(dst, a0, w0, fresh, c):
    if fresh:
        for i in range(dst.size):
            dst[i] = c + w0 * a0[i]
    else:
        for i in range(dst.size):
            dst[i] += w0 * a0[i]


@njit(**SPLICED)
def _w(M, j, m, transpose):
    return M[m, j] if transpose else M[j, m]


def _matmul_signature(w):
    return types.void(w.mat, w.mat, w.mat, types.boolean, INT, w.vec)


def _outer_acc_signature(w):
    return types.void(w.mat, w.mat, w.mat, w.vec)


_SIGNATURES = (_matmul_signature, _outer_acc_signature)


def products_type(w):
    """The type of the (matmul, outer_acc) tuple of first-class functions the passes receive."""
    return types.Tuple(tuple(types.FunctionType(signature(w)) for signature in _SIGNATURES))


def products(precision):
    """(matmul, outer_acc) of a working precision as first-class function constants: the passes
    call them through their addresses, so that their code is optimised once, not again inside every pass
    that would link it in (backward and the R-operator pass spent most of their compile time there)."""
    w = WORKING[precision]
    return tuple(first_class(fn, signature(w)) for fn, signature in zip((matmul, outer_acc), _SIGNATURES))


@passes(_matmul_signature)
def matmul(M, src, dst, transpose, init, values):
    """dst (+)= M·src (M is (rows(dst), rows(src))) or, with ``transpose``, Mᵀ·src (M is (rows(src),
    rows(dst))), as axpy updates of whole rows in blocks of four destination by four source rows. ``init``: 0
    adds to dst, 1 overwrites it, 2 overwrites it with values[j] + (M·src)[j] (a bias; ``values`` is not read
    otherwise). One compiled kernel for both: the orientation only changes the sixteen scalar loads of a
    block's weights, and compiling the blocked loops twice cost about 3 s of every first run."""
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


@passes(_outer_acc_signature)
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

