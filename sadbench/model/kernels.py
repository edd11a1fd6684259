"""The compiled kernels of one activation × loss: loss and gradient, the flow's vector field, Hessian-vector
products and dense Hessians, as the first-class functions integrators receive (docs/science.md §1).

The model's code is arranged by job: :mod:`~sadbench.model.layout` (the scratch and parameter offsets),
:mod:`~sadbench.model.precision` (working precisions, compile options), :mod:`~sadbench.model.blocks` (the
register-blocked products), :mod:`~sadbench.model.elementwise` (the per-plugin loops),
:mod:`~sadbench.model.gradient` (the gradient passes) and :mod:`~sadbench.model.second_order` (the
R-operator passes). The passes are compiled once per machine and cached on disk; this module builds, per
activation × loss, the small closures that call them through :func:`~sadbench.jit.first_class` constants,
which is what makes a new combination cost a fraction of a second.
"""

from collections import namedtuple
from functools import lru_cache

from numba import njit, prange, types

from sadbench import signatures as sig
from sadbench.jit import compiled, first_class
from sadbench.model.elementwise import activation_loops, loss_loop
from sadbench.model.gradient import forward_pass, loss_grad_pass, loss_grad_pass_f32, loss_grad_signature
from sadbench.model.precision import INT, KERNEL, VEC, WIDTHS, WORKING, compile_float32
from sadbench.model.second_order import make_second_order, no_hessian, no_hvp

Kernels = namedtuple("Kernels", "loss_grad functions forward activation loss")
"""``functions`` is the (rhs, hvp, hessian) tuple that integrators receive."""


@lru_cache(maxsize=None)
def _kernels_for(f, df, d2f, loss_value, loss_d1, loss_d2, precision="float64"):
    """The per-combination entry points: small closures over the element-wise loops that call the cached
    passes through :func:`first_class` constants. In float32 the gradient is float32's and the forward pass
    (network outputs) float64's; the second-order functions return NaN (no float32 passes)."""
    single = precision == "float32"
    fdf_loop, d2_loop = activation_loops(f, df, d2f, precision)
    terms_loop = loss_loop(loss_value, loss_d1, loss_d2, precision)
    fdf, terms = first_class(fdf_loop), first_class(terms_loop)
    if single:
        compile_float32()
        loss_grad_fn = first_class(loss_grad_pass_f32)
    else:
        loss_grad_fn = first_class(loss_grad_pass, loss_grad_signature(WORKING["float64"]))

    @njit(sig.LOSS_GRAD, **KERNEL)
    def loss_grad(prob, theta, grad, sign):
        """Return L(θ) and write ``sign * ∇L(θ)`` into ``grad``."""
        X, Y, widths, bias, work = prob
        return loss_grad_fn(X, Y, widths, bias, work, theta, grad, sign, fdf, terms)

    @njit(sig.RHS, **KERNEL)
    def rhs(prob, theta, out):
        """The flow's vector field: write -∇L(θ) into ``out``, return L(θ)."""
        X, Y, widths, bias, work = prob
        return loss_grad_fn(X, Y, widths, bias, work, theta, out, -1.0, fdf, terms)

    if single:
        return _kernels_for(f, df, d2f, loss_value, loss_d1, loss_d2)[0], loss_grad, (rhs, no_hvp, no_hessian)
    forward_fn = first_class(forward_pass)

    @njit(sig.MATRIX(VEC, sig.MATRIX, WIDTHS, INT, VEC), **KERNEL)
    def forward(theta, X, widths, bias, work):
        """Fill the scratch with the forward pass; return the output view (n, k)."""
        return forward_fn(theta, X, widths, bias, work, fdf)

    if d2_loop is None:
        hvp, hessian = no_hvp, no_hessian
    else:
        hvp, hessian = make_second_order(fdf_loop, d2_loop, terms_loop)
    return forward, loss_grad, (rhs, hvp, hessian)


@compiled(types.void(types.FunctionType(sig.LOSS_GRAD), sig.MATRIX, sig.MATRIX, WIDTHS, INT, sig.MATRIX, sig.MATRIX,
                    sig.MATRIX, sig.VECTOR), parallel=True)
def loss_grad_ensemble(loss_grad, X, Y, widths, bias, work, thetas, grads, losses):
    """L and ∇L for every row of ``thetas``, members spread over threads."""
    for e in prange(thetas.shape[0]):
        losses[e] = loss_grad((X, Y, widths, bias, work[e]), thetas[e], grads[e], 1.0)


def gradient_kernels(activation, loss, precision="float64"):
    """Compiled kernels for one activation and loss (specs from :mod:`sadbench.specs`) whose gradient passes
    compute in ``precision`` (one of :data:`~sadbench.model.precision.PRECISIONS`), built once."""
    forward, loss_grad, functions = _kernels_for(
        activation.f, activation.df, activation.d2f, loss.value, loss.d1, loss.d2, precision
    )
    return Kernels(loss_grad, functions, forward, activation, loss)
