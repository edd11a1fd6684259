"""The plugin-specific element-wise loops: the only code compiled per activation (σ and σ′ in one pass; σ″)
and per loss.

The passes receive them as first-class functions, so building the kernels of a new activation × loss
compiles only these loops and a few one-line entry points. Compiled without fast-math flags of their own,
so that a third-party plugin function without flags is not compiled with looser ones; the built-ins bring
their own (and are force-inlined, sharing their exponential/erfc between σ and σ′). In float32 they call the
plugin's (float64) scalar functions on float64(z) and store float32.
"""

from functools import lru_cache

import numpy as np
from numba import njit

from sadbench.model.precision import ACT_D2, WORKING

ELEMENTWISE = dict(error_model="numpy")


def activation_loops(f, df, d2f, precision="float64"):
    """The compiled (fdf, d2) loops of one activation in a working precision (d2 None without σ″, and in
    float32, which has no second-order passes)."""
    return activation_loop(f, df, precision), (second_derivative_loop(d2f) if precision == "float64" else None)


@lru_cache(maxsize=None)
def activation_loop(f, df, precision="float64"):
    """The compiled loop fdf(z, a, g): a = σ(z) and g = σ′(z) in one pass."""

    @njit(WORKING[precision].fdf.signature, **ELEMENTWISE)
    def fdf(z, a, g):
        for i in range(z.size):
            x = np.float64(z[i])
            a[i] = f(x)
            g[i] = df(x)

    return fdf


@lru_cache(maxsize=None)
def second_derivative_loop(d2f):
    """The compiled loop d2(z, s): s *= σ″(z), float64 (None without σ″); only second-order runs build it."""
    if d2f is None:
        return None

    @njit(ACT_D2, **ELEMENTWISE)
    def d2(z, s):
        for i in range(z.size):
            s[i] *= d2f(z[i])

    return d2


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

