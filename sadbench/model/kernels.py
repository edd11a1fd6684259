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

from functools import cached_property

from numba import njit, types

from sadbench import signatures as sig
from sadbench.jit import compiled, first_class
from sadbench.model.blocks import products
from sadbench.model.elementwise import activation_loop, loss_loop, second_derivative_loop
from sadbench.model.gradient import (
    chunk_passes, forward_pass, loss_grad_pass, loss_grad_pass_f32, loss_grad_signature,
)
from sadbench.model.precision import INT, KERNEL, VEC, WIDTHS, WORKING, compile_float32
from sadbench.model.second_order import make_second_order, no_hessian, no_hvp


class Kernels:
    """The compiled kernels of one activation × loss whose gradient passes compute in ``precision``, each
    built (compiled, or loaded from numba's cache) on first use: a first-order run never compiles the
    Hessian passes, a run never compiles the forward pass. In float32 the gradient is float32's and the
    forward pass (network outputs) float64's; the second-order functions return NaN (no float32 passes)."""

    def __init__(self, activation, loss, precision="float64"):
        self.activation, self.loss, self.precision = activation, loss, precision

    @cached_property
    def _fdf(self):
        """The element-wise loop of σ and σ′."""
        return activation_loop(self.activation.f, self.activation.df, self.precision)

    @cached_property
    def _terms(self):
        """The element-wise loop of the loss terms."""
        loss = self.loss
        return loss_loop(loss.value, loss.d1, loss.d2, self.precision)

    def _gradient_entry(self, sign_fixed):
        """A closure over the element-wise loops that calls the cached gradient pass through
        :func:`~sadbench.jit.first_class` constants: ``loss_grad`` (``sign`` an argument) or ``rhs`` (-1)."""
        fdf, terms = first_class(self._fdf), first_class(self._terms)
        chunk, dense = chunk_passes(self.precision), products(self.precision)
        if self.precision == "float32":
            compile_float32()
            loss_grad_fn = first_class(loss_grad_pass_f32)
        else:
            loss_grad_fn = first_class(loss_grad_pass, loss_grad_signature(WORKING["float64"]))
        if sign_fixed:
            @njit(sig.RHS, **KERNEL)
            def rhs(prob, theta, out):
                """The flow's vector field: write -∇L(θ) into ``out``, return L(θ)."""
                X, Y, widths, bias, work = prob
                return loss_grad_fn(X, Y, widths, bias, work, theta, out, -1.0, fdf, terms, chunk, dense)

            return rhs

        @njit(sig.LOSS_GRAD, **KERNEL)
        def loss_grad(prob, theta, grad, sign):
            """Return L(θ) and write ``sign * ∇L(θ)`` into ``grad``."""
            X, Y, widths, bias, work = prob
            return loss_grad_fn(X, Y, widths, bias, work, theta, grad, sign, fdf, terms, chunk, dense)

        return loss_grad

    @cached_property
    def loss_grad(self):
        """``loss_grad(problem, theta, grad, sign) -> L`` (:data:`sadbench.signatures.LOSS_GRAD`)."""
        return self._gradient_entry(False)

    @cached_property
    def rhs(self):
        """``rhs(problem, theta, out) -> L`` (:data:`sadbench.signatures.RHS`)."""
        return self._gradient_entry(True)

    @cached_property
    def forward(self):
        """``forward(theta, X, widths, bias, work) -> outputs (n, k)``: fills the scratch with the forward
        pass (always float64's) and returns the output view."""
        if self.precision != "float64":
            return gradient_kernels(self.activation, self.loss).forward
        forward_fn, fdf = first_class(forward_pass), first_class(self._fdf)
        chunk, dense = chunk_passes("float64"), products("float64")

        @njit(sig.MATRIX(VEC, sig.MATRIX, WIDTHS, INT, VEC), **KERNEL)
        def forward(theta, X, widths, bias, work):
            """Fill the scratch with the forward pass; return the output view (n, k)."""
            return forward_fn(theta, X, widths, bias, work, fdf, chunk, dense)

        return forward

    @cached_property
    def second_order(self):
        """(hvp, hessian) (:data:`sadbench.signatures.HVP`, ``HESSIAN``): exact, or NaN without σ″ or in
        float32."""
        d2 = second_derivative_loop(self.activation.d2f) if self.precision == "float64" else None
        if d2 is None:
            return no_hvp, no_hessian
        return make_second_order(self._fdf, d2, self._terms)

    def functions_for(self, second_order):
        """The (rhs, hvp, hessian) tuple an integrator receives; without ``second_order`` the Hessian slots hold
        the NaN placeholders, so that a first-order run compiles no Hessian code."""
        return (self.rhs, *(self.second_order if second_order else (no_hvp, no_hessian)))

    @property
    def functions(self):
        """(rhs, hvp, hessian), the exact second-order functions included."""
        return self.functions_for(True)


@compiled(types.void(types.FunctionType(sig.LOSS_GRAD), sig.MATRIX, sig.MATRIX, WIDTHS, INT, sig.MATRIX, sig.MATRIX,
                    sig.MATRIX, sig.VECTOR, INT, INT), nogil=True)
def loss_grad_members(loss_grad, X, Y, widths, bias, work, thetas, grads, losses, first, last):
    """L and ∇L for rows ``first .. last - 1`` of ``thetas``; it releases the GIL, so the host spreads an
    ensemble over threads (:func:`sadbench.jit.over_threads`)."""
    for e in range(first, last):
        losses[e] = loss_grad((X, Y, widths, bias, work[e]), thetas[e], grads[e], 1.0)


def gradient_kernels(activation, loss, precision="float64"):
    """The :class:`Kernels` of one activation and loss (specs from :mod:`sadbench.specs`) whose gradient
    passes compute in ``precision`` (one of :data:`~sadbench.model.precision.PRECISIONS`): one per
    combination of their functions."""
    key = (activation.f, activation.df, activation.d2f, loss.value, loss.d1, loss.d2, precision)
    if key not in _KERNELS:
        _KERNELS[key] = Kernels(activation, loss, precision)
    return _KERNELS[key]


_KERNELS = {}
