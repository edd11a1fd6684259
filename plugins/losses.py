"""Built-in losses (docs/science.md §1): L = (1/n) Σ_i Σ_j loss(z_ij, y_ij).

Written with :mod:`sadbench.model.vmath`, so the kernels' loop over the outputs vectorises, and stable for margins
of either sign (softplus for the logistic loss, σ′ as e/(1+e)²).
"""


from sadbench import Loss, hookimpl
from sadbench.jit import compiled
from sadbench.model import vmath
from sadbench_plugins._scalar import SCALAR, d_logistic, logistic, softplus


@compiled(**SCALAR)
def mse(z, y):
    r = z - y
    return r * r


@compiled(**SCALAR)
def d_mse(z, y):
    return 2.0 * (z - y)


@compiled(**SCALAR)
def d2_mse(z, y):
    return 2.0


@compiled(**SCALAR)
def logistic_loss(z, y):
    return softplus(-y * z)


@compiled(**SCALAR)
def d_logistic_loss(z, y):
    return -y * logistic(-y * z)


@compiled(**SCALAR)
def d2_logistic_loss(z, y):
    return y * y * d_logistic(-y * z)


@compiled(**SCALAR)
def exponential(z, y):
    return vmath.exp(-y * z)


@compiled(**SCALAR)
def d_exponential(z, y):
    return -y * vmath.exp(-y * z)


@compiled(**SCALAR)
def d2_exponential(z, y):
    return y * y * vmath.exp(-y * z)


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
