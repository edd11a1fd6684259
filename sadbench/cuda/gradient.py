"""The gradient on the GPU: -∇L(θ) of one member, its data points in chunks through a per-point buffer.

A chunk of points is propagated forward and backward a layer at a time, the threads over the (unit, point)
pairs of the layer (in shared memory for the block layout); then the threads, now over the parameters,
reduce ∇L = Σ_points δ·aᵀ out of the buffer. The activation's and the loss's scalar functions are device
functions (:mod:`sadbench.cuda.translate`).
"""

from functools import reduce

from sadbench.cuda.device import cuda


def build_rhs(geometry, n_points, chunk, threads, prims, f, df, value, d1):
    """``rhs(W, rin, rout, e, E, X, Y, tid, buf, red)``: write -∇L(θ) of work row ``rin`` into row ``rout``
    and return L, for ``n_points`` points in chunks of ``chunk`` (a power of two), ``threads`` per member.
    All threads of a member call it."""
    g = geometry
    T, CP = threads, chunk
    N, L, P, D, BIAS = n_points, g.n_layers, g.n_params, g.widths[0], g.bias
    FAN_IN, FAN_OUT, P_OFF = g.fan_in, g.fan_out, g.param_offset
    A_IN, A_OUT, G_ROWS, D_ROWS, DOUT = g.act_in, g.act_out, g.g_rows, g.delta_rows, g.out_delta
    SCALE = -1.0 / N  # the flow's field is -∇L, L the mean over points
    ix, sync, block_sum = prims.ix, prims.sync, prims.block_sum
    dev_f, dev_df, dev_value, dev_d1 = f, df, value, d1

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

    return rhs
