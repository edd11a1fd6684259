"""One member's scratch vector and the flat parameter vector: where each region starts.

A *problem* is the tuple ``(X, Y, widths, bias, work)``: data (n, d) and (n, k), the int64 widths
``[d, h1, ..., k]``, 1 if every layer has a bias, and a float64 scratch vector of :func:`work_size` entries
(one per ensemble member). The flat parameter layout is, per layer, W (out × in, row-major) then b
(docs/science.md §1). Kernels never allocate: all intermediate arrays are views into ``work``.

The data points are processed in chunks of at most :data:`CHUNK` points, so the scratch does not grow with n
(``work_size`` is O(CHUNK·Σ widths + n·k)) and one chunk's activations stay in the L1/L2 cache. Inside a
chunk every layer is **feature-major**: a (width, c) block whose rows run over the c points, so each inner
loop is a contiguous stream over points.
"""

import numpy as np
from numba import njit

from sadbench.jit import compiled
from sadbench.model.precision import INLINE

#: Points per chunk: the inner loops' length, and the scratch's size. 64, 128 and 256 measured within the
#: noise of each other on 10 000 points (tanh [1, 16, 16, 1]: 1.23, 1.10, 1.07 ms per gradient; identity
#: [2, 20, 40, 20, 1]: 2.83, 2.49, 2.69 ms); larger chunks cost cache, smaller ones loop overhead.
CHUNK = 128

#: The names of the values :func:`layout` returns, in order.
LAYOUT_FIELDS = ("x", "y", "z", "a", "g", "delta", "s", "rz", "ra", "rd", "l2", "lv", "out", "end", "chunk")


def work_size(widths, n):
    """Scratch float64s one member needs: the gradient, Hessian-vector products and dense Hessians in
    float64, and the float32 gradient, whose regions (counted in float32s) are followed by θ and ∇L in
    float32 (:func:`sadbench.model.gradient.loss_grad_pass_f32`)."""
    widths = np.asarray(widths, dtype=np.int64)
    end = int(layout(widths, int(n))[-2])
    params = int((widths[1:] * (widths[:-1] + 1)).sum())  # with biases: an upper bound
    return max(end, -(-(end + 2 * params) // 2))


@compiled()
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


@compiled()
def row_offset(widths, layer):
    """Σ of the widths of layers 1..layer-1: a layer's first row in the per-layer regions."""
    rows = 0
    for l in range(1, layer):
        rows += widths[l]
    return rows


@compiled()
def param_offset(widths, bias, layer):
    """Offset of the weights of ``layer`` (0-based: the map from widths[layer] to widths[layer + 1])."""
    offset = 0
    for l in range(layer):
        offset += widths[l + 1] * (widths[l] + bias)
    return offset


@njit(**INLINE)
def view(work, start, rows, c):
    return work[start : start + rows * c].reshape((rows, c))


@njit(**INLINE)
def flat(work, start, rows, c):
    return work[start : start + rows * c]


@njit(**INLINE)
def weights(theta, widths, bias, layer):
    """(W (out, in) view, bias offset) of a 0-based layer."""
    fan_in, fan_out = widths[layer], widths[layer + 1]
    p = param_offset(widths, bias, layer)
    return theta[p : p + fan_out * fan_in].reshape((fan_out, fan_in)), p + fan_out * fan_in

