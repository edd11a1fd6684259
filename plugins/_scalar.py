"""Numerically stable scalar helpers shared by the built-in activations and losses."""

import math

from numba import njit


@njit(cache=True)
def logistic(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


@njit(cache=True)
def softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))
