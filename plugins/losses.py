"""Built-in losses (SCIENCE.md §1): L = (1/n) Σ_i Σ_j loss(z_ij, y_ij)."""

import math

from numba import njit

from sadbench import Loss, hookimpl
from sadbench_plugins._scalar import logistic, softplus


@njit(cache=True)
def mse(z, y):
    r = z - y
    return r * r


@njit(cache=True)
def d_mse(z, y):
    return 2.0 * (z - y)


@njit(cache=True)
def d2_mse(z, y):
    return 2.0


@njit(cache=True)
def logistic_loss(z, y):
    return softplus(-y * z)


@njit(cache=True)
def d_logistic_loss(z, y):
    return -y * logistic(-y * z)


@njit(cache=True)
def d2_logistic_loss(z, y):
    s = logistic(-y * z)
    return y * y * s * (1.0 - s)


@njit(cache=True)
def exponential(z, y):
    return math.exp(-y * z)


@njit(cache=True)
def d_exponential(z, y):
    return -y * math.exp(-y * z)


@njit(cache=True)
def d2_exponential(z, y):
    return y * y * math.exp(-y * z)


@hookimpl
def sadbench_register_losses(register):
    register(Loss("mse", mse, d_mse, d2_mse, description="mean squared error, no ½"))
    register(
        Loss("logistic", logistic_loss, d_logistic_loss, d2_logistic_loss, labels="sign",
             description="log(1+exp(-y·z)), stable")
    )
    register(
        Loss("exponential", exponential, d_exponential, d2_exponential, labels="sign",
             description="exp(-y·z)")
    )
