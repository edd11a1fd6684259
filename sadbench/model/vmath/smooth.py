"""tanh, the logistic function and softplus, each from one exponential of -|x| (see
:mod:`sadbench.model.vmath`)."""

import math

from numba import njit

from sadbench.model.vmath.bits import OPTIONS
from sadbench.model.vmath.exponential import exp_expm1_neg
from sadbench.model.vmath.logarithm import log1p_finite



@njit(**OPTIONS)
def tanh(x):
    """Hyperbolic tangent."""
    u = exp_expm1_neg(-2.0 * abs(x))[1]
    t = math.copysign(-u / (u + 2.0), x)
    return t if x == x else x


@njit(**OPTIONS)
def logistic(x):
    """1 / (1 + e^-x), without overflow for either sign."""
    e = exp_expm1_neg(-abs(x))[0]
    r = 1.0 / (1.0 + e)
    y = r if x >= 0.0 else e * r
    return y if x == x else x


@njit(**OPTIONS)
def softplus(x):
    """log(1 + e^x), without overflow; relative accuracy in both tails."""
    e = exp_expm1_neg(-abs(x))[0]
    y = (x if x > 0.0 else 0.0) + log1p_finite(e)
    return y if x == x else x

