"""The observables of a gradient flow (docs/science.md §2), each defined once.

||θ|| and ||∇L|| are :func:`norm` (compiled: the driver records them at every save time, and the host's
final norms call the same code, so both agree to the last bit); the alignment cos(θ, -∇L) and the direction
cosine between successive saves are :func:`cosine` (compiled: the CPU driver and the CUDA kernel record it);
R = ||θ||·||∇L|| is :func:`r_product` and μ = ||∇L||²/(L − L*) is :func:`pl_ratio` (numpy, on saved series or
single values). L itself is the model's (:mod:`sadbench.model`).
"""

import math

import numpy as np

from sadbench.jit import compiled


@compiled()
def norm(v):
    """||v||, the Euclidean norm of a vector: ||θ||, ||∇L||."""
    s = 0.0
    for x in v:
        s += x * x
    return math.sqrt(s)


def norms(vectors):
    """:func:`norm` of each vector along the last axis of an array (one member's (P,) or an ensemble's
    (E, P)); a float for a single vector."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float64)
    if vectors.ndim == 1:
        return norm(vectors)
    return np.array([norm(v) for v in vectors.reshape(-1, vectors.shape[-1])]).reshape(vectors.shape[:-1])


@compiled()
def cosine(dot, norm_u, norm_v):
    """cos(u, v) = ⟨u, v⟩/(||u||·||v||) from the dot product and the norms, NaN when either vector is 0: the
    alignment cos(θ, -∇L) (→ 1 under directional convergence) and the turning of θ between saves."""
    return dot / (norm_u * norm_v) if norm_u > 0.0 and norm_v > 0.0 else math.nan


def r_product(theta_norm, grad_norm):
    """R = ||θ||·||∇L||, which tends to 0 on the divergent branch (the asymptotic critical values of the
    dichotomy, docs/science.md §2)."""
    return theta_norm * grad_norm


def pl_ratio(grad_norm, loss, limit_loss=0.0):
    """μ = ||∇L||²/(L − L*), bounded below near a limit where the landscape is locally PL
    (docs/science.md §2); with L* = 0 it is the ratio ||∇L||²/L of Chatterjee's criterion."""
    return grad_norm**2 / (loss - limit_loss)
