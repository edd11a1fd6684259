"""Built-in activations with exact first and second derivatives (SCIENCE.md §2 for the SAD class)."""

import math

from numba import njit

from sadbench import Activation, hookimpl
from sadbench_plugins._scalar import logistic, softplus

INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
LEAKY_SLOPE = 0.01


@njit(cache=True)
def d_logistic(x):
    s = logistic(x)
    return s * (1.0 - s)


@njit(cache=True)
def d2_logistic(x):
    s = logistic(x)
    return s * (1.0 - s) * (1.0 - 2.0 * s)


@njit(cache=True)
def tanh(x):
    return math.tanh(x)


@njit(cache=True)
def d_tanh(x):
    t = math.tanh(x)
    return 1.0 - t * t


@njit(cache=True)
def d2_tanh(x):
    t = math.tanh(x)
    return -2.0 * t * (1.0 - t * t)


@njit(cache=True)
def gelu(x):
    return 0.5 * x * (1.0 + math.erf(x * INV_SQRT2))


@njit(cache=True)
def d_gelu(x):
    return 0.5 * (1.0 + math.erf(x * INV_SQRT2)) + x * INV_SQRT2PI * math.exp(-0.5 * x * x)


@njit(cache=True)
def d2_gelu(x):
    return INV_SQRT2PI * math.exp(-0.5 * x * x) * (2.0 - x * x)


@njit(cache=True)
def silu(x):
    return x * logistic(x)


@njit(cache=True)
def d_silu(x):
    s = logistic(x)
    return s + x * s * (1.0 - s)


@njit(cache=True)
def d2_silu(x):
    s = logistic(x)
    return s * (1.0 - s) * (2.0 + x * (1.0 - 2.0 * s))


@njit(cache=True)
def mish(x):
    return x * math.tanh(softplus(x))


@njit(cache=True)
def d_mish(x):
    t = math.tanh(softplus(x))
    return t + x * (1.0 - t * t) * logistic(x)


@njit(cache=True)
def d2_mish(x):
    t = math.tanh(softplus(x))
    s = logistic(x)
    return (1.0 - t * t) * s * (2.0 + x * (1.0 - s) - 2.0 * x * t * s)


@njit(cache=True)
def elu(x):
    return x if x > 0.0 else math.expm1(x)


@njit(cache=True)
def d_elu(x):
    return 1.0 if x > 0.0 else math.exp(x)


@njit(cache=True)
def d2_elu(x):
    return 0.0 if x > 0.0 else math.exp(x)


@njit(cache=True)
def identity(x):
    return x


@njit(cache=True)
def one(x):
    return 1.0


@njit(cache=True)
def zero(x):
    return 0.0


@njit(cache=True)
def relu(x):
    return max(x, 0.0)


@njit(cache=True)
def d_relu(x):
    return 1.0 if x > 0.0 else 0.0


@njit(cache=True)
def leaky_relu(x):
    return x if x > 0.0 else LEAKY_SLOPE * x


@njit(cache=True)
def d_leaky_relu(x):
    return 1.0 if x > 0.0 else LEAKY_SLOPE


@hookimpl
def sadbench_register_activations(register):
    sad = dict(smooth=True, sad=True)
    register(Activation("logistic", logistic, d_logistic, d2_logistic, **sad, description="1/(1+e^-x)"))
    register(Activation("tanh", tanh, d_tanh, d2_tanh, **sad, description="hyperbolic tangent"))
    register(Activation("softplus", softplus, logistic, d_logistic, **sad, description="log(1+e^x)"))
    register(Activation("gelu", gelu, d_gelu, d2_gelu, **sad, description="x·Φ(x), exact erf form"))
    register(Activation("silu", silu, d_silu, d2_silu, **sad, description="swish: x·logistic(x)"))
    register(Activation("mish", mish, d_mish, d2_mish, **sad, description="x·tanh(softplus(x))"))
    register(Activation("elu", elu, d_elu, d2_elu, smooth=False, description="α=1; C¹, not C²"))
    register(
        Activation("identity", identity, one, zero, homogeneous=True, description="deep linear networks")
    )
    register(Activation("relu", relu, d_relu, zero, smooth=False, homogeneous=True, description="max(x, 0)"))
    register(
        Activation(
            "leaky_relu", leaky_relu, d_leaky_relu, zero, smooth=False, homogeneous=True,
            description=f"slope {LEAKY_SLOPE} for x < 0",
        )
    )
