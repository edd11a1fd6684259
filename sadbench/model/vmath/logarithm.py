"""log and log1p: fdlibm e_log.c on the mantissa in [√½, √2), log1p's rounding of 1 + x carried as a
first-order correction (see :mod:`sadbench.model.vmath`)."""

import math

from numba import njit

from sadbench.model.vmath.bits import OPTIONS, as_float, as_int, from_words
from sadbench.model.vmath.exponential import LN2_HI, LN2_LO

LG1 = from_words(0x3FE55555, 0x55555593)
LG2 = from_words(0x3FD99999, 0x9997FA04)
LG3 = from_words(0x3FD24924, 0x94229359)
LG4 = from_words(0x3FCC71C5, 0x1D8E78AF)
LG5 = from_words(0x3FC74664, 0x96CB03DE)
LG6 = from_words(0x3FC39A09, 0xD078C69F)
LG7 = from_words(0x3FC2F112, 0xDF3E5244)
SQRT_HALF_BITS = 0x3FE6A09E667F3BCD  # bits of √½: mantissas are normalised to [√½, √2)
TWO54 = 18014398509481984.0
SMALLEST_NORMAL = 2.2250738585072014e-308


@njit(**OPTIONS)
def _log_core(ix, k0, lo):
    """log(2^k0·x) + lo for the bits ``ix`` of a positive, finite, normal x and a small correction ``lo``
    (absolute, |lo| ≪ 1) added where it loses nothing."""
    tmp = ix - SQRT_HALF_BITS
    k = tmp >> 52
    z = as_float(ix - (k << 52))  # x / 2^k, in [√½, √2)
    kf = float(k) + k0
    f = z - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z2 = s * s
    w = z2 * z2
    t1 = w * (LG2 + w * (LG4 + w * LG6))
    t2 = z2 * (LG1 + w * (LG3 + w * (LG5 + w * LG7)))
    R = t2 + t1
    return kf * LN2_HI - ((hfsq - (s * (hfsq + R) + (kf * LN2_LO + lo))) - f)


@njit(**OPTIONS)
def log(x):
    """Natural logarithm: -inf at ±0, NaN below 0."""
    sub = x < SMALLEST_NORMAL  # subnormals are scaled by 2^54 first
    y = _log_core(as_int(x * TWO54 if sub else x), -54.0 if sub else 0.0, 0.0)
    y = y if x < math.inf else x
    return y if x > 0.0 else (-math.inf if x == 0.0 else math.nan)


@njit(**OPTIONS)
def log1p_finite(x):
    """log(1 + x) for finite x > -1 (1 + x is then never subnormal), special values not handled."""
    u = 1.0 + x
    # u - 1 is exact, and so is x - (u - 1): the rounding error of 1 + x, carried as log(u + c) ≈ log(u) + c/u.
    # 1/u rather than a division by u: softplus shares it with the logistic function's 1/(1 + e).
    c = (x - (u - 1.0)) * (1.0 / u)
    return _log_core(as_int(u), 0.0, c)


@njit(**OPTIONS)
def log1p(x):
    """log(1 + x), accurate for small |x|."""
    u = 1.0 + x
    y = log1p_finite(x)
    y = y if x < math.inf else x
    y = y if u > 0.0 else (-math.inf if u == 0.0 else math.nan)
    return y if x != 0.0 else x

