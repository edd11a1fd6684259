"""The per-member vector operations of the CUDA kernels, for either layout: where a member's row p lives in
the work array, barriers, and sums, dot products, norms and copies over the member's threads."""

import math
from collections import namedtuple

from sadbench.cuda.device import cuda

Primitives = namedtuple("Primitives", "ix sync block_sum dot norm copy")


def primitives(block, threads, n_params):
    """The device functions of one layout (``block``: a block of ``threads`` per member, else a thread per
    member) for vectors of ``n_params`` values."""
    T, P = threads, n_params

    if block:
        @cuda.jit(device=True)
        def ix(r, p, e, E):
            return r * P + p
    else:
        @cuda.jit(device=True)
        def ix(r, p, e, E):
            return (r * P + p) * E + e

    @cuda.jit(device=True)
    def sync():
        if block:
            cuda.syncthreads()

    @cuda.jit(device=True)
    def block_sum(v, tid, red):
        """Σ of ``v`` over the member's threads, returned to every thread."""
        if not block:
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

    return Primitives(ix, sync, block_sum, dot, norm, copy)
