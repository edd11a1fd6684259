"""Exact second derivatives: Hessian-vector products by Pearlmutter's R-operator (forward over reverse).

For a direction v = (V_l, c_l) the R-forward pass propagates R(Z_l) = V_l A_{l-1} + W_l R(A_{l-1}) + c_l and
R(A_l) = σ'(Z_l) R(Z_l); the R-backward pass differentiates the gradient's backward pass:
R(δ_L) = ℓ''(Z_L) R(Z_L) / n, R(∇W_l) = R(δ_l) A_{l-1}ᵀ + δ_l R(A_{l-1})ᵀ,
R(δ_{l-1}) = (W_lᵀ R(δ_l) + V_lᵀ δ_l) ⊙ σ'(Z_{l-1}) + S_{l-1} ⊙ R(Z_{l-1}), with S = (W_lᵀ δ_l) ⊙ σ''(Z_{l-1}).

The data points are processed in chunks (:data:`sadbench.model.layout.CHUNK` points), like the gradient's, and
every product accumulates over them. For each chunk, everything that does not depend on v (the forward pass
with σ′, every layer's δ, S, ℓ''/n) is computed once by ``prepare``; a Hessian-vector product is then one
``r_pass`` per chunk. The dense Hessian runs P R-passes per chunk along the unit vectors, each of which
starts at the layer of its parameter (R(Z) and R(A) of earlier layers are zero) and enters V as the one row
it is instead of a product with a one-hot matrix; H is symmetrised at the end. The scratch regions and the
feature-major layout are the gradient kernel's (:func:`sadbench.model.layout.layout`).

The passes are compiled once per machine (cached on disk, their cache keyed by every file they reach:
:mod:`sadbench.jit`); :func:`make_second_order` builds the entry points of one activation × loss.
"""

import math

from numba import njit, types

from sadbench import signatures as sig
from sadbench.jit import compiled, first_class
from sadbench.model.blocks import fill_rows, products, products_type
from sadbench.model.gradient import chunk_passes, chunk_passes_type
from sadbench.model.layout import flat, layout, param_offset, row_offset, view, weights
from sadbench.model.precision import ACT_FN, D2_FN, INT, KERNEL, LOSS_FN, VEC, WIDTHS, WORKING


#: The gradient's per-chunk passes and the products, in float64 (:func:`sadbench.model.gradient.chunk_passes`,
#: :func:`sadbench.model.blocks.products`), as first-class functions.
CHUNK = chunk_passes_type(WORKING["float64"])
PRODUCTS = products_type(WORKING["float64"])


@compiled(types.float64(sig.PROBLEM, INT, INT, VEC, ACT_FN, D2_FN, LOSS_FN, CHUNK, PRODUCTS), **KERNEL)
def prepare(prob, start, c, theta, fdf, d2, terms, chunk, products):
    """For a chunk: forward and backward passes (sign +1, δ only), S = (Wᵀδ)⊙σ″(Z) and ℓ''/n. Returns the
    chunk's Σ ℓ."""
    load, forward, loss, back = chunk
    matmul = products[0]
    X, Y, widths, bias, work = prob
    n = X.shape[0]
    n_layers = widths.size - 1
    _, _, z0, _, _, d0, s0, _, _, _, _, _, _, _, _ = layout(widths, n)
    load(X, Y, widths, work, start, c)
    forward(theta, widths, bias, work, n, c, fdf, products)
    total = loss(widths, work, n, c, 1.0 / n, terms, True)
    back(theta, widths, bias, work, n, c, theta, False, products)
    row = 0
    for l in range(1, n_layers):  # S of hidden layer l: the weights l (0-based) read it
        w = widths[l]
        W, _ = weights(theta, widths, bias, l)
        matmul(W, view(work, d0 + (row + w) * c, widths[l + 1], c), view(work, s0 + row * c, w, c), True, 1, W[0])
        d2(flat(work, z0 + row * c, w, c), flat(work, s0 + row * c, w, c))
        row += w
    return total


@compiled(types.void(VEC, VEC, WIDTHS, INT, VEC, INT, INT, VEC, INT, INT, INT, PRODUCTS), **KERNEL)
def r_pass(theta, v, widths, bias, work, n, c, out, first, unit_row, unit_col, products):
    """Add a chunk's part of ∇²L·v to ``out``, after ``prepare``. ``v`` is zero in the layers before
    ``first``. With ``unit_row`` ≥ 0, v is the unit vector of weight (unit_row, unit_col) of layer ``first``
    (of its bias when ``unit_col`` < 0) and ``v`` itself is not read."""
    matmul, outer_acc = products
    x0, _, _, a0, g0, d0, s0, rz0, ra0, rd0, l20, _, _, _, C = layout(widths, n)
    n_layers = widths.size - 1
    unit = unit_row >= 0
    max_w = 0
    for l in range(1, n_layers + 1):
        max_w = max(max_w, widths[l])
    # R-forward, from the first layer where v is not zero
    row = row_offset(widths, first + 1)
    for l in range(first, n_layers):
        fan_in, fan_out = widths[l], widths[l + 1]
        W, _ = weights(theta, widths, bias, l)
        RZ = view(work, rz0 + row * c, fan_out, c)
        A_in = view(work, x0 if l == 0 else a0 + (row - fan_in) * c, fan_in, c)
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
            matmul(V, A_in, RZ, False, 2 if bias else 1, v[pc : pc + fan_out])
        if l > first:
            matmul(W, view(work, ra0 + (row - fan_in) * c, fan_in, c), RZ, False, 1 if unit else 0, v)
        if l < n_layers - 1:
            rzf = flat(work, rz0 + row * c, fan_out, c)
            raf = flat(work, ra0 + row * c, fan_out, c)
            gf = flat(work, g0 + row * c, fan_out, c)
            for i in range(rzf.size):
                raf[i] = gf[i] * rzf[i]
        row += fan_out
    # R-backward
    row = row_offset(widths, n_layers)
    k = widths[n_layers]
    rdf = flat(work, rd0, k, c)
    rzf = flat(work, rz0 + row * c, k, c)
    l2 = flat(work, l20, k, c)
    for i in range(rdf.size):
        rdf[i] = l2[i] * rzf[i]
    use_second = False
    for l in range(n_layers - 1, -1, -1):
        fan_in, fan_out = widths[l], widths[l + 1]
        W, pb = weights(theta, widths, bias, l)
        oW, _ = weights(out, widths, bias, l)
        rdelta = view(work, rd0 + (max_w * C if use_second else 0), fan_out, c)
        delta = view(work, d0 + row * c, fan_out, c)
        outer_acc(rdelta, view(work, x0 if l == 0 else a0 + (row - fan_in) * c, fan_in, c), oW,
                  out[pb : pb + (fan_out if bias else 0)])
        if l > first:
            outer_acc(delta, view(work, ra0 + (row - fan_in) * c, fan_in, c), oW, out[:0])
        if l > 0:
            other = 0 if use_second else max_w * C
            rprev = view(work, rd0 + other, fan_in, c)
            matmul(W, rdelta, rprev, True, 1, W[0])
            if l >= first:
                if unit:
                    if l == first and unit_col >= 0:
                        target = rprev[unit_col]
                        source = delta[unit_row]
                        for i in range(c):
                            target[i] += source[i]
                else:
                    V, _ = weights(v, widths, bias, l)
                    matmul(V, delta, rprev, True, 0, V[0])
            start = row - fan_in
            rpf = flat(work, rd0 + other, fan_in, c)
            gf = flat(work, g0 + start * c, fan_in, c)
            if l - 1 >= first:
                sf = flat(work, s0 + start * c, fan_in, c)
                rzf = flat(work, rz0 + start * c, fan_in, c)
                for i in range(rpf.size):
                    rpf[i] = rpf[i] * gf[i] + sf[i] * rzf[i]
            else:
                for i in range(rpf.size):
                    rpf[i] *= gf[i]
            use_second = not use_second
        row -= fan_in


#: (prepare, r_pass) as first-class functions: the whole-data passes call them through their addresses, so
#: that they are compiled once rather than linked into (and re-optimised within) both hvp_pass and hessian_pass.
STEPS = types.Tuple((types.FunctionType(prepare.declared_signature), types.FunctionType(r_pass.declared_signature)))


@compiled(types.float64(sig.PROBLEM, VEC, VEC, VEC, ACT_FN, D2_FN, LOSS_FN, CHUNK, STEPS, PRODUCTS), **KERNEL)
def hvp_pass(prob, theta, v, out, fdf, d2, terms, chunk, steps, products):
    """Write ∇²L(θ)·v into ``out``; return L(θ)."""
    prepare_chunk, r_chunk = steps
    X, Y, widths, bias, work = prob
    n = X.shape[0]
    C = layout(widths, n)[-1]
    out[:] = 0.0
    total = 0.0
    for start in range(0, n, C):
        c = min(C, n - start)
        total += prepare_chunk(prob, start, c, theta, fdf, d2, terms, chunk, products)
        r_chunk(theta, v, widths, bias, work, n, c, out, 0, -1, -1, products)
    return total / n


@compiled(types.float64(sig.PROBLEM, VEC, sig.MATRIX, ACT_FN, D2_FN, LOSS_FN, CHUNK, STEPS, PRODUCTS), **KERNEL)
def hessian_pass(prob, theta, H, fdf, d2, terms, chunk, steps, products):
    """Write the dense ∇²L(θ) (P × P) into ``H``; return L(θ)."""
    prepare_chunk, r_chunk = steps
    X, Y, widths, bias, work = prob
    n = X.shape[0]
    C = layout(widths, n)[-1]
    P = theta.size
    H[:, :] = 0.0
    total = 0.0
    for start in range(0, n, C):
        c = min(C, n - start)
        total += prepare_chunk(prob, start, c, theta, fdf, d2, terms, chunk, products)
        for l in range(widths.size - 1):
            fan_in, fan_out = widths[l], widths[l + 1]
            p = param_offset(widths, bias, l)
            for j in range(fan_out):
                for m in range(fan_in):
                    r_chunk(theta, theta, widths, bias, work, n, c, H[p + j * fan_in + m], l, j, m, products)
            if bias:
                for j in range(fan_out):
                    r_chunk(theta, theta, widths, bias, work, n, c, H[p + fan_out * fan_in + j], l, j, -1,
                            products)
    for p in range(P):
        for q in range(p):
            s = 0.5 * (H[p, q] + H[q, p])
            H[p, q] = s
            H[q, p] = s
    return total / n


@compiled(sig.HVP)
def no_hvp(prob, theta, v, out):
    """For activations without σ″: NaN, which second-order methods report as a failure."""
    out[:] = math.nan
    return math.nan


@compiled(sig.HESSIAN)
def no_hessian(prob, theta, H):
    H[:, :] = math.nan
    return math.nan


def make_second_order(fdf, d2, terms):
    """The HVP and HESSIAN entry points of one activation (σ, σ′ loop ``fdf``; σ″ loop ``d2``) and loss
    (``terms``): closures that call the compiled passes as first-class functions (no re-linking)."""
    hvp_fn, hessian_fn = first_class(hvp_pass), first_class(hessian_pass)
    fdf, d2, terms = first_class(fdf), first_class(d2), first_class(terms)
    chunk, steps = chunk_passes("float64"), (first_class(prepare), first_class(r_pass))
    dense = products("float64")

    @njit(sig.HVP, **KERNEL)
    def hvp(prob, theta, v, out):
        """Write ∇²L(θ)·v into ``out``; return L(θ)."""
        return hvp_fn(prob, theta, v, out, fdf, d2, terms, chunk, steps, dense)

    @njit(sig.HESSIAN, **KERNEL)
    def hessian(prob, theta, H):
        """Write the dense ∇²L(θ) (P × P) into ``H``; return L(θ)."""
        return hessian_fn(prob, theta, H, fdf, d2, terms, chunk, steps, dense)

    return hvp, hessian
