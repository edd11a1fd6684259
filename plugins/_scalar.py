"""Numerically stable scalar helpers shared by the built-in activations and losses.

They are built from :mod:`sadbench.model.vmath`, so a kernel loop that calls them vectorises, and they are
force-inlined (LLVM ``alwaysinline``) with their own floating-point flags, so a kernel compiled with looser
flags cannot reassociate them. Cached on disk by :func:`sadbench.jit.compiled`, whose key covers ``vmath``
too: a run loads the functions the registry checks instead of compiling them.
"""

from sadbench.jit import compiled
from sadbench.model import vmath
from sadbench.model.vmath import logistic, softplus  # noqa: F401  (re-exported: the helpers' historical home)

#: Compile options of every built-in scalar function (activations, losses and these helpers).
SCALAR = dict(fastmath=vmath.FASTMATH, error_model="numpy", forceinline=True)


@compiled(**SCALAR)
def logistic_parts(x):
    """(σ(x), σ′(x), tanh(|x|/2)) from one exponential e = e^{-|x|}: σ′ = e/(1+e)² and tanh(|x|/2) =
    (1-e)/(1+e) keep their relative accuracy where 1 - σ and 1 - 2σ would cancel."""
    e, em = vmath.exp_expm1_neg(-abs(x))
    r = 1.0 / (1.0 + e)
    s = r if x >= 0.0 else e * r
    s = s if x == x else x
    return s, e * r * r, -em * r


@compiled(**SCALAR)
def d_logistic(x):
    """σ′(x) = σ(x)(1 - σ(x))."""
    return logistic_parts(x)[1]


@compiled(**SCALAR)
def d2_logistic(x):
    """σ″(x) = σ′(x)(1 - 2σ(x)) = -σ′(x)·tanh(x/2)."""
    _, ds, th = logistic_parts(x)
    v = ds * th
    return -v if x >= 0.0 else v
