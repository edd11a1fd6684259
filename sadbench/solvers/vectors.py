"""Vector loops of the compiled solvers.

Written as loops on purpose: numba compiles a slice assignment ``a[:] = b`` with its shape-mismatch error
message, whose string formatting costs seconds of compilation in the first run of every process that
compiles a caller, for nothing the solvers need (their shapes match by construction).
"""

import math

import numpy as np
from numba import njit

#: Small helpers, inlined into their callers (LLVM alwaysinline).
INLINE = dict(error_model="numpy", forceinline=True)


@njit(**INLINE)
def copy(dst, src):
    """dst := src, vectors of one length."""
    for p in range(dst.size):
        dst[p] = src[p]


@njit(**INLINE)
def copy_rows(dst, src, rows):
    """dst[:rows] := src[:rows], matrices of one row length."""
    for i in range(rows):
        for p in range(dst.shape[1]):
            dst[i, p] = src[i, p]


@njit(**INLINE)
def dot(u, v):
    """⟨u, v⟩."""
    s = 0.0
    for p in range(u.size):
        s += u[p] * v[p]
    return s


@njit(**INLINE)
def fill(dst, value):
    """dst := value everywhere."""
    for p in range(dst.size):
        dst[p] = value


@njit(**INLINE)
def add(dst, src):
    """dst += src."""
    for p in range(dst.size):
        dst[p] += src[p]


@njit(**INLINE)
def axpy(dst, a, src):
    """dst += a·src (the product rounded first, as numpy's ``dst += a * src`` does)."""
    for p in range(dst.size):
        dst[p] += a * src[p]


@njit(**INLINE)
def divide(dst, s):
    """dst /= s (numpy's division: no exception at s = 0)."""
    for p in range(dst.size):
        dst[p] /= s


@njit(**INLINE)
def scaled_norm(v, scale):
    """RMS of v / scale: the norm Newton's corrections and BDF's error are measured in."""
    s = 0.0
    for p in range(v.size):
        s += (v[p] / scale[p]) ** 2
    return math.sqrt(s / v.size)


@njit(**INLINE)
def back_substitute(U, b, n):
    """x with U[:n, :n]·x = b[:n], U upper triangular (GMRES's least squares, Anderson's eliminated system)."""
    x = np.zeros(n)
    for i in range(n - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, n):
            s -= U[i, j] * x[j]
        x[i] = s / U[i, i]
    return x
