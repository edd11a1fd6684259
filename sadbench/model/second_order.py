"""Exact second derivatives: Hessian-vector products by Pearlmutter's R-operator (forward over reverse).

For a direction v = (V_l, c_l) the R-forward pass propagates R(Z_l) = V_l A_{l-1} + W_l R(A_{l-1}) + c_l and
R(A_l) = σ'(Z_l) R(Z_l); the R-backward pass differentiates the gradient's backward pass:
R(δ_L) = ℓ''(Z_L) R(Z_L) / n, R(∇W_l) = R(δ_l) A_{l-1}ᵀ + δ_l R(A_{l-1})ᵀ,
R(δ_{l-1}) = (W_lᵀ R(δ_l) + V_lᵀ δ_l) ⊙ σ'(Z_{l-1}) + S_{l-1} ⊙ R(Z_{l-1}), with S = (W_lᵀ δ_l) ⊙ σ''(Z_{l-1}).

The data points are processed in chunks (:data:`sadbench.model.kernels.CHUNK` points), like the gradient's, and
every product accumulates over them. For each chunk, everything that does not depend on v (the forward pass
with σ′, every layer's δ, S, ℓ''/n) is computed once by ``prepare``; a Hessian-vector product is then one
``r_pass`` per chunk. The dense Hessian runs P R-passes per chunk along the unit vectors, each of which
starts at the layer of its parameter (R(Z) and R(A) of earlier layers are zero) and enters V as the one row
it is instead of a product with a one-hot matrix; H is symmetrised at the end. The scratch regions and the
feature-major layout are the gradient kernel's (:func:`sadbench.model.kernels.layout`).

The compiled passes (``prepare``, ``r_pass``, ``hvp_pass``, ``hessian_pass``) live in :mod:`sadbench.model.kernels`
with the building blocks they share, so that numba's on-disk cache of all of them is invalidated together
(numba notices changes only in a cached function's own file); this module builds the per-combination
entry points.
"""

from numba import njit

from sadbench import signatures as sig
from sadbench.model.kernels import KERNEL, first_class, hessian_pass, hvp_pass, prepare, r_pass  # noqa: F401


def make_second_order(fdf, d2, terms):
    """The HVP and HESSIAN entry points of one activation (σ, σ′ loop ``fdf``; σ″ loop ``d2``) and loss
    (``terms``): closures that call the compiled passes as first-class functions (no re-linking)."""
    hvp_fn, hessian_fn = first_class(hvp_pass), first_class(hessian_pass)
    fdf, d2, terms = first_class(fdf), first_class(d2), first_class(terms)

    @njit(sig.HVP, **KERNEL)
    def hvp(prob, theta, v, out):
        """Write ∇²L(θ)·v into ``out``; return L(θ)."""
        return hvp_fn(prob, theta, v, out, fdf, d2, terms)

    @njit(sig.HESSIAN, **KERNEL)
    def hessian(prob, theta, H):
        """Write the dense ∇²L(θ) (P × P) into ``H``; return L(θ)."""
        return hessian_fn(prob, theta, H, fdf, d2, terms)

    return hvp, hessian
