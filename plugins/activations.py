"""Built-in activations with exact first and second derivatives (docs/science.md §2 for the SAD class).

Every function is written with :mod:`sadbench.model.vmath` (no libm calls, no branches), so the kernels' loops over
a layer vectorise; σ, σ′ and σ″ of one activation share their expensive parts (one exponential, one erfc)
through the same inlined helpers, which LLVM evaluates once when a kernel asks for σ and σ′ of the same
pre-activation. The formulas avoid cancellation (1 - tanh² as 4e/(u+2)², σ(1-σ) as e/(1+e)²), so the
derivatives keep their relative accuracy in the tails.
"""


from sadbench import Activation, hookimpl
from sadbench.jit import compiled
from sadbench.model import vmath
from sadbench_plugins._scalar import SCALAR, d2_logistic, d_logistic, logistic, logistic_parts, softplus

LEAKY_SLOPE = 0.01


@compiled(**SCALAR)
def _tanh_parts(x):
    """(tanh x, 1 - tanh² x) from u = expm1(-2|x|), e = exp(-2|x|): tanh|x| = -u/(u+2), 1 - tanh² = 4e/(u+2)²."""
    e, u = vmath.exp_expm1_neg(-2.0 * abs(x))
    r = 1.0 / (u + 2.0)
    t = -u * r
    t = -t if x < 0.0 else t
    t = t if x == x else x
    return t, 4.0 * e * r * r


@compiled(**SCALAR)
def tanh(x):
    return _tanh_parts(x)[0]


@compiled(**SCALAR)
def d_tanh(x):
    return _tanh_parts(x)[1]


@compiled(**SCALAR)
def d2_tanh(x):
    t, dt = _tanh_parts(x)
    return -2.0 * t * dt


@compiled(**SCALAR)
def gelu(x):
    return x * vmath.ndtr_pdf_no_nan(x)[0]


@compiled(**SCALAR)
def d_gelu(x):
    cdf, pdf = vmath.ndtr_pdf_no_nan(x)
    return cdf + x * pdf


@compiled(**SCALAR)
def d2_gelu(x):
    return vmath.ndtr_pdf_no_nan(x)[1] * (2.0 - x * x)


@compiled(**SCALAR)
def silu(x):
    return x * logistic_parts(x)[0]


@compiled(**SCALAR)
def d_silu(x):
    s, ds, _ = logistic_parts(x)
    return s + x * ds


@compiled(**SCALAR)
def d2_silu(x):
    # σ′(x)·(2 + x(1 - 2σ(x))), with x(1 - 2σ(x)) = -|x|·tanh(|x|/2)
    _, ds, th = logistic_parts(x)
    return ds * (2.0 - abs(x) * th)


@compiled(**SCALAR)
def _mish_parts(x):
    """(t, 1 - t², σ) with t = tanh(softplus(x)), from e = e^{-|x|}: for x ≥ 0, t = (1+2e)/(1+2e+2e²) and
    1 - t² = 4e²(1+e)²/(1+2e+2e²)²; for x < 0, t = e(2+e)/(2+2e+e²) and 1 - t² = 4(1+e)²/(2+2e+e²)²."""
    e = vmath.exp_expm1_neg(-abs(x))[0]
    positive = x >= 0.0
    one_e = 1.0 + e
    num = 1.0 + 2.0 * e if positive else e * (2.0 + e)
    den = 1.0 + 2.0 * e * one_e if positive else 1.0 + one_e * one_e
    r = 1.0 / den
    g = 2.0 * one_e * r * (e if positive else 1.0)
    s = 1.0 / one_e
    s = s if positive else e * s
    t = num * r
    t = t if x == x else x
    return t, g * g, s


@compiled(**SCALAR)
def mish(x):
    return x * _mish_parts(x)[0]


@compiled(**SCALAR)
def d_mish(x):
    t, dt, s = _mish_parts(x)
    return t + x * dt * s


@compiled(**SCALAR)
def d2_mish(x):
    t, dt, s = _mish_parts(x)
    return dt * s * (2.0 + x * (1.0 - s) - 2.0 * x * t * s)


@compiled(**SCALAR)
def elu(x):
    em = vmath.exp_expm1_neg(x if x < 0.0 else 0.0)[1]
    return em if x <= 0.0 else x


@compiled(**SCALAR)
def d_elu(x):
    e = vmath.exp_expm1_neg(x if x < 0.0 else 0.0)[0]
    return e if x <= 0.0 else (1.0 if x > 0.0 else x)


@compiled(**SCALAR)
def d2_elu(x):
    e = vmath.exp_expm1_neg(x if x < 0.0 else 0.0)[0]
    return e if x <= 0.0 else (0.0 if x > 0.0 else x)


@compiled(**SCALAR)
def identity(x):
    return x


@compiled(**SCALAR)
def one(x):
    return 1.0


@compiled(**SCALAR)
def zero(x):
    return 0.0


@compiled(**SCALAR)
def relu(x):
    return x if not x < 0.0 else 0.0


@compiled(**SCALAR)
def d_relu(x):
    return 1.0 if x > 0.0 else 0.0


@compiled(**SCALAR)
def leaky_relu(x):
    return x if x > 0.0 else LEAKY_SLOPE * x


@compiled(**SCALAR)
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
