"""numba kernels for the loss and gradient of a fully connected network (SCIENCE.md §1).

A *problem* is the tuple ``(X, Y, widths, bias, work)``: data (n, d) and (n, k), the int64 widths
``[d, h1, ..., k]``, 1 if every layer has a bias, and a float64 scratch vector of
:func:`work_size` entries (one per ensemble member). The flat parameter layout is, per layer, W (out × in,
row-major) then b. Kernels never allocate: all intermediate arrays are views into ``work``.

:func:`gradient_kernels` builds the kernels for one activation and loss, once (memoised on the jitted
functions), by closing over the plugins' scalar functions: the kernel factory pattern of pynndescent/umap.
"""

import math
from collections import namedtuple
from functools import lru_cache

import numpy as np
from numba import njit, prange, types

from sadbench import signatures as sig

# Reassociation lets LLVM vectorise the dot products; it does not assume away NaN or inf, which the
# integrators must still see.
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}

Kernels = namedtuple("Kernels", "loss_grad functions forward activation loss")
"""``functions`` is the (rhs, hvp, hessian) tuple that integrators receive."""


def work_size(widths, n):
    """Scratch float64s one member needs: for the gradient, pre-activations Z, activations A and two delta
    buffers; for Hessian products the same again (R-images), and one parameter-sized vector."""
    widths = np.asarray(widths)
    per_pass = n * (2 * widths[1:].sum() - widths[-1] + 2 * widths[1:].max())
    max_params = int((widths[1:] * (widths[:-1] + 1)).sum())
    return int(2 * per_pass + max_params)


@njit(cache=True)
def regions(widths, n):
    """Offsets into the scratch vector: A, the two δ buffers, R(Z), R(A), the two R(δ) buffers; max width."""
    n_layers = widths.size - 1
    z_total = _z_offset(widths, n, n_layers)
    a_total = z_total - n * widths[n_layers]
    max_w = 0
    for l in range(1, n_layers + 1):
        max_w = max(max_w, widths[l])
    a_base = z_total
    d_base = a_base + a_total
    rz_base = d_base + 2 * n * max_w
    ra_base = rz_base + z_total
    rd_base = ra_base + a_total
    return a_base, d_base, rz_base, ra_base, rd_base, max_w


@njit(cache=True)
def _param_offset(widths, bias, layer):
    offset = 0
    for l in range(layer):
        offset += widths[l + 1] * (widths[l] + bias)
    return offset


@njit(cache=True)
def _z_offset(widths, n, layer):
    offset = 0
    for l in range(layer):
        offset += n * widths[l + 1]
    return offset


def _make_forward(f):
    @njit(sig.MATRIX(sig.VECTOR, sig.MATRIX, types.int64[::1], types.int64, sig.VECTOR),
          fastmath=FASTMATH, cache=True)
    def forward(theta, X, widths, bias, work):
        """Fill the pre-activations Z and activations A of every layer; return the output view (n, k)."""
        n = X.shape[0]
        n_layers = widths.size - 1
        a_base = _z_offset(widths, n, n_layers)
        p = 0
        for l in range(n_layers):
            fan_in, fan_out = widths[l], widths[l + 1]
            W = theta[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            p += fan_out * fan_in
            z0 = _z_offset(widths, n, l)
            Z = work[z0 : z0 + n * fan_out].reshape((n, fan_out))
            if l == 0:
                A_in = X
            else:
                a0 = a_base + _z_offset(widths, n, l - 1)
                A_in = work[a0 : a0 + n * fan_in].reshape((n, fan_in))
            for i in range(n):
                for j in range(fan_out):
                    s = 0.0
                    for m in range(fan_in):
                        s += W[j, m] * A_in[i, m]
                    Z[i, j] = s
            if bias:
                for i in range(n):
                    for j in range(fan_out):
                        Z[i, j] += theta[p + j]
                p += fan_out
            if l < n_layers - 1:
                a0 = a_base + z0
                A = work[a0 : a0 + n * fan_out].reshape((n, fan_out))
                for i in range(n):
                    for j in range(fan_out):
                        A[i, j] = f(Z[i, j])
            else:
                return Z
        return work[:0].reshape((0, 0))  # unreachable: there is always an output layer

    return forward


def _make_loss_grad(f, df, loss_value, loss_d1):
    forward = _make_forward(f)

    @njit(sig.LOSS_GRAD, fastmath=FASTMATH, cache=True)
    def loss_grad(prob, theta, grad, sign):
        """Return L(θ) and write ``sign * ∇L(θ)`` into ``grad``."""
        X, Y, widths, bias, work = prob
        n = X.shape[0]
        n_layers = widths.size - 1
        k = widths[n_layers]
        a_base, d_base, _, _, _, max_w = regions(widths, n)
        out = forward(theta, X, widths, bias, work)
        delta = work[d_base : d_base + n * k].reshape((n, k))
        total = 0.0
        scale = sign / n
        for i in range(n):
            for j in range(k):
                total += loss_value(out[i, j], Y[i, j])
                delta[i, j] = scale * loss_d1(out[i, j], Y[i, j])

        use_second = False
        for l in range(n_layers - 1, -1, -1):
            fan_in, fan_out = widths[l], widths[l + 1]
            p = _param_offset(widths, bias, l)
            W = theta[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            gW = grad[p : p + fan_out * fan_in].reshape((fan_out, fan_in))
            if l == 0:
                A_in = X
            else:
                a0 = a_base + _z_offset(widths, n, l - 1)
                A_in = work[a0 : a0 + n * fan_in].reshape((n, fan_in))
            gW[:, :] = 0.0
            for i in range(n):
                for j in range(fan_out):
                    dij = delta[i, j]
                    for m in range(fan_in):
                        gW[j, m] += dij * A_in[i, m]
            if bias:
                pb = p + fan_out * fan_in
                for j in range(fan_out):
                    s = 0.0
                    for i in range(n):
                        s += delta[i, j]
                    grad[pb + j] = s
            if l > 0:
                start = d_base + (n * max_w if not use_second else 0)
                prev = work[start : start + n * fan_in].reshape((n, fan_in))
                z0 = _z_offset(widths, n, l - 1)
                Z_in = work[z0 : z0 + n * fan_in].reshape((n, fan_in))
                for i in range(n):
                    for m in range(fan_in):
                        prev[i, m] = 0.0
                    for j in range(fan_out):
                        dij = delta[i, j]
                        for m in range(fan_in):
                            prev[i, m] += dij * W[j, m]
                    for m in range(fan_in):
                        prev[i, m] *= df(Z_in[i, m])
                delta = prev
                use_second = not use_second
        return total / n

    return forward, loss_grad


@njit(sig.HVP, cache=True)
def _no_hvp(prob, theta, v, out):
    """For activations without σ″: NaN, which second-order methods report as a failure."""
    out[:] = math.nan
    return math.nan


@njit(sig.HESSIAN, cache=True)
def _no_hessian(prob, theta, H):
    H[:, :] = math.nan
    return math.nan


@lru_cache(maxsize=None)
def _kernels_for(f, df, d2f, loss_value, loss_d1, loss_d2):
    from sadbench.second_order import make_second_order

    forward, loss_grad = _make_loss_grad(f, df, loss_value, loss_d1)
    if d2f is None:
        hvp, hessian = _no_hvp, _no_hessian
    else:
        hvp, hessian = make_second_order(forward, f, df, d2f, loss_value, loss_d1, loss_d2)

    @njit(sig.RHS, cache=True)
    def rhs(prob, theta, out):
        """The flow's vector field: write -∇L(θ) into ``out``, return L(θ)."""
        return loss_grad(prob, theta, out, -1.0)

    return forward, loss_grad, (rhs, hvp, hessian)


@njit(types.void(types.FunctionType(sig.LOSS_GRAD), sig.MATRIX, sig.MATRIX, types.int64[::1], types.int64,
                 sig.MATRIX, sig.MATRIX, sig.MATRIX, sig.VECTOR), parallel=True, cache=True)
def loss_grad_ensemble(loss_grad, X, Y, widths, bias, work, thetas, grads, losses):
    """L and ∇L for every row of ``thetas``, members spread over threads."""
    for e in prange(thetas.shape[0]):
        losses[e] = loss_grad((X, Y, widths, bias, work[e]), thetas[e], grads[e], 1.0)


def gradient_kernels(activation, loss):
    """Compiled kernels for one activation and loss (specs from :mod:`sadbench.specs`), built once."""
    forward, loss_grad, functions = _kernels_for(
        activation.f, activation.df, activation.d2f, loss.value, loss.d1, loss.d2
    )
    return Kernels(loss_grad, functions, forward, activation, loss)
