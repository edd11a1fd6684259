"""The gradient passes over one chunk of points, and the loss-and-gradient pass over all of them.

For each chunk of at most :data:`~sadbench.model.layout.CHUNK` points: load Xᵀ and Yᵀ into the scratch
(:func:`load_chunk`), fill Z, σ(Z) and σ′(Z) of every layer in one contiguous pass (:func:`propagate`;
σ′(Z) is kept for the backward pass), the output layer's δ and the loss terms (:func:`loss_terms`), then
every δ and the chunk's ∇W, ∇b (:func:`backward`); the parameter-space sums accumulate over the chunks.
The passes are compiled once per machine (cached on disk) and receive the plugin-specific element-wise
loops (:mod:`sadbench.model.elementwise`) as first-class functions.
"""

import numpy as np
from numba import njit, types

from sadbench import signatures as sig
from sadbench.jit import compiled, first_class
from sadbench.model.blocks import products_type
from sadbench.model.layout import flat, layout, row_offset, view, weights
from sadbench.model.precision import ACT_FN, FLOAT32_OVERLOADS, INLINE, INT, KERNEL, VEC, WIDTHS, WORKING, passes


@njit(**INLINE)
def _transpose_rows(src, start, dst):
    """dst[j, i] = src[start + i, j], one contiguous row of dst at a time: with the loop over the points
    outside, a chunk of 64 points with d = 1 took 0.25–0.37 µs to load, with it inside 0.05–0.12 µs
    (benchmarks/gradient_speed.py --breakdown)."""
    for j in range(dst.shape[0]):
        row = dst[j]
        for i in range(row.size):
            row[i] = src[start + i, j]


def _load_chunk_signature(w):
    return types.void(sig.MATRIX, sig.MATRIX, WIDTHS, w.vec, INT, INT)


def _propagate_signature(w):
    return types.void(w.vec, WIDTHS, INT, w.vec, INT, INT, w.fdf, products_type(w))


def _loss_terms_signature(w):
    return types.float64(WIDTHS, w.vec, INT, INT, types.float64, w.terms, types.boolean)


def _backward_signature(w):
    return types.void(w.vec, WIDTHS, INT, w.vec, INT, INT, w.vec, types.boolean, products_type(w))


_CHUNK_SIGNATURES = (_load_chunk_signature, _propagate_signature, _loss_terms_signature, _backward_signature)


def chunk_passes_type(w):
    """The type of the (load_chunk, propagate, loss_terms, backward) tuple of first-class functions that the
    passes over all chunks receive (:func:`chunk_passes`)."""
    return types.Tuple(tuple(types.FunctionType(signature(w)) for signature in _CHUNK_SIGNATURES))


def chunk_passes(precision):
    """The per-chunk passes of a working precision as first-class function constants, for the passes over all
    chunks: called through their addresses, they are compiled (and optimised) once, not again inside every
    pass that calls them; a pass that linked them in would re-optimise their code, the bulk of its compile
    time (measured with a numba compile-event listener: benchmarks/cold_start.py)."""
    w = WORKING[precision]
    return tuple(first_class(fn, signature(w)) for fn, signature in
                 zip((load_chunk, propagate, loss_terms, backward), _CHUNK_SIGNATURES))


@passes(_load_chunk_signature)
def load_chunk(X, Y, widths, work, start, c):
    """Copy Xᵀ and Yᵀ of points start .. start + c - 1 into the scratch (rounded to its precision)."""
    lay = layout(widths, X.shape[0])
    _transpose_rows(X, start, view(work, lay[0], X.shape[1], c))
    _transpose_rows(Y, start, view(work, lay[1], Y.shape[1], c))


@passes(_propagate_signature)
def propagate(theta, widths, bias, work, n, c, fdf, products):
    """Fill Z, σ(Z) and σ′(Z) of every layer for a chunk of c points whose Xᵀ is in the scratch."""
    matmul = products[0]
    x0, _, z0, a0, g0, _, _, _, _, _, _, _, _, _, _ = layout(widths, n)
    n_layers = widths.size - 1
    src = view(work, x0, widths[0], c)
    row = 0
    for l in range(n_layers):
        fan_out = widths[l + 1]
        W, pb = weights(theta, widths, bias, l)
        Z = view(work, z0 + row * c, fan_out, c)
        matmul(W, src, Z, False, 2 if bias else 1, theta[pb : pb + fan_out])
        if l < n_layers - 1:
            fdf(flat(work, z0 + row * c, fan_out, c), flat(work, a0 + row * c, fan_out, c),
                flat(work, g0 + row * c, fan_out, c))
            src = view(work, a0 + row * c, fan_out, c)
        row += fan_out


@passes(_loss_terms_signature)
def loss_terms(widths, work, n, c, scale, terms, second):
    """After a chunk's forward pass: δ of the output layer (scale·ℓ′), and ℓ″/n when ``second``; returns the
    chunk's Σ ℓ (summed in float64)."""
    n_layers = widths.size - 1
    k = widths[n_layers]
    _, y0, z0, _, _, d0, _, _, _, _, l20, lv0, _, _, _ = layout(widths, n)
    last = row_offset(widths, n_layers) * c
    values = flat(work, lv0, k, c)
    terms(flat(work, z0 + last, k, c), flat(work, y0, k, c), values, flat(work, d0 + last, k, c),
          flat(work, l20, k if second else 0, c), scale)
    total = 0.0
    for i in range(values.size):
        total += values[i]
    return total


@passes(_backward_signature)
def backward(theta, widths, bias, work, n, c, grad, weight_grads, products):
    """Given δ of the output layer, fill every layer's δ for a chunk and, if ``weight_grads``, add the chunk's
    ∇W, ∇b into ``grad``."""
    matmul, outer_acc = products
    x0, _, _, a0, g0, d0, _, _, _, _, _, _, _, _, _ = layout(widths, n)
    n_layers = widths.size - 1
    row = row_offset(widths, n_layers)
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out = widths[l], widths[l + 1]
        W, pb = weights(theta, widths, bias, l)
        delta = view(work, d0 + row * c, fan_out, c)
        if weight_grads:
            gW, _ = weights(grad, widths, bias, l)
            outer_acc(delta, view(work, x0 if l == 0 else a0 + (row - fan_in) * c, fan_in, c), gW,
                      grad[pb : pb + (fan_out if bias else 0)])
        if l > 0:
            matmul(W, delta, view(work, d0 + (row - fan_in) * c, fan_in, c), True, 1, W[0])
            pf = flat(work, d0 + (row - fan_in) * c, fan_in, c)
            gf = flat(work, g0 + (row - fan_in) * c, fan_in, c)
            for i in range(pf.size):
                pf[i] *= gf[i]
        row -= fan_in


def loss_grad_signature(w):
    return types.float64(sig.MATRIX, sig.MATRIX, WIDTHS, INT, w.vec, w.vec, w.vec, types.float64, w.fdf, w.terms,
                         chunk_passes_type(w), products_type(w))


@passes(loss_grad_signature)
def loss_grad_pass(X, Y, widths, bias, work, theta, grad, sign, fdf, terms, chunk, products):
    """L(θ), and ``sign * ∇L(θ)`` into ``grad``, in the precision of ``work``, ``theta`` and ``grad``;
    ``chunk`` and ``products`` are :func:`chunk_passes` and :func:`~sadbench.model.blocks.products` of that
    precision."""
    load, forward, loss, back = chunk
    n = X.shape[0]
    C = layout(widths, n)[-1]
    grad[:] = 0.0
    total = 0.0
    for start in range(0, n, C):
        c = min(C, n - start)
        load(X, Y, widths, work, start, c)
        forward(theta, widths, bias, work, n, c, fdf, products)
        total += loss(widths, work, n, c, sign / n, terms, False)
        back(theta, widths, bias, work, n, c, grad, True, products)
    return total / n


@compiled(**KERNEL)  # compiled by compile_float32()
def loss_grad_pass_f32(X, Y, widths, bias, work, theta, grad, sign, fdf, terms, chunk, products):
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
    total = loss_grad_pass(X, Y, widths, bias, single, theta32, grad32, sign, fdf, terms, chunk, products)
    for p in range(P):
        grad[p] = grad32[p]
    return total


_SINGLE = WORKING["float32"]
FLOAT32_OVERLOADS.append((loss_grad_pass_f32, types.float64(sig.MATRIX, sig.MATRIX, WIDTHS, INT, VEC, VEC, VEC,
                                                            types.float64, _SINGLE.fdf, _SINGLE.terms,
                                                            chunk_passes_type(_SINGLE), products_type(_SINGLE))))


_DOUBLE = WORKING["float64"]


@compiled(sig.MATRIX(VEC, sig.MATRIX, WIDTHS, INT, VEC, ACT_FN, chunk_passes_type(_DOUBLE), products_type(_DOUBLE)),
          **KERNEL)
def forward_pass(theta, X, widths, bias, work, fdf, chunk, products):
    """Run the forward pass; return the network outputs (n, k), a view into the scratch."""
    forward = chunk[1]
    n = X.shape[0]
    k = widths[widths.size - 1]
    x0, _, z0, _, _, _, _, _, _, _, _, _, out0, _, C = layout(widths, n)
    out = work[out0 : out0 + n * k].reshape((n, k))
    last = row_offset(widths, widths.size - 1)
    for start in range(0, n, C):
        c = min(C, n - start)
        _transpose_rows(X, start, view(work, x0, widths[0], c))
        forward(theta, widths, bias, work, n, c, fdf, products)
        zl = view(work, z0 + last * c, k, c)
        for i in range(c):
            for j in range(k):
                out[start + i, j] = zl[j, i]
    return out

