"""Butcher tableaux as data, checked against the Runge–Kutta order conditions on creation.

The order conditions are generated from rooted trees (Butcher 1963): a method has order p when
``b · Φ(τ) = 1/γ(τ)`` for every rooted tree τ with at most p nodes, where Φ(leaf) = 1 and
Φ([τ1, ..., τm]) = Π_i A Φ(τi) componentwise, and γ(τ) = |τ| Π_i γ(τi).
"""

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

TOLERANCE = 1e-12


@lru_cache(maxsize=None)
def rooted_trees(order):
    """All rooted trees with ``order`` nodes, each a sorted tuple of child trees (a leaf is ``()``)."""
    if order == 1:
        return ((),)
    trees = set()
    for forest in _forests(order - 1, max_child=None):
        trees.add(tuple(sorted(forest)))
    return tuple(sorted(trees))


def _forests(nodes, max_child):
    """Multisets of trees with ``nodes`` nodes in total, children listed in non-increasing order."""
    if nodes == 0:
        yield ()
        return
    for size in range(nodes, 0, -1):
        for tree in rooted_trees(size):
            key = (size, tree)
            if max_child is not None and key > max_child:
                continue
            for rest in _forests(nodes - size, key):
                yield (tree,) + rest


def _tree_size(tree):
    return 1 + sum(_tree_size(child) for child in tree)


def _gamma(tree):
    return _tree_size(tree) * np.prod([_gamma(child) for child in tree]) if tree else 1.0


def _phi(tree, A):
    out = np.ones(A.shape[0])
    for child in tree:
        out = out * (A @ _phi(child, A))
    return out


def order_residuals(A, b, order):
    """Largest residual of the order conditions of each order 1..``order``."""
    return [max(abs(b @ _phi(t, A) - 1.0 / _gamma(t)) for t in rooted_trees(p)) for p in range(1, order + 1)]


def attained_order(A, b, max_order=8):
    """The highest p for which every condition up to p holds to ``TOLERANCE``."""
    for p in range(1, max_order + 1):
        if order_residuals(A, b, p)[-1] > TOLERANCE:
            return p - 1
    return max_order


@dataclass(frozen=True)
class ButcherTableau:
    """An explicit Runge–Kutta tableau; ``b_hat`` (the embedded method) makes it adaptive.

    Construction checks that A is strictly lower triangular, the rows of A sum to c, the weights sum to 1,
    and that b has order ``order`` (and ``b_hat`` order ``error_order``).
    """

    c: np.ndarray
    A: np.ndarray
    b: np.ndarray
    order: int
    b_hat: np.ndarray | None = None
    error_order: int | None = None

    def __post_init__(self):
        for name in ("c", "A", "b", "b_hat"):
            value = getattr(self, name)
            if value is not None:
                value = np.array(value, dtype=np.float64)
                value.setflags(write=False)
                object.__setattr__(self, name, value)
        s = self.b.size
        if self.A.shape != (s, s) or self.c.shape != (s,):
            raise ValueError(f"shapes do not match: c {self.c.shape}, A {self.A.shape}, b {self.b.shape}")
        if np.any(np.triu(self.A) != 0):
            raise ValueError("A must be strictly lower triangular for an explicit method")
        if np.max(abs(self.A.sum(axis=1) - self.c)) > TOLERANCE:
            raise ValueError("rows of A must sum to c")
        self._check_order(self.b, self.order, "b")
        if (self.b_hat is None) != (self.error_order is None):
            raise ValueError("b_hat and error_order go together")
        if self.b_hat is not None:
            if self.b_hat.shape != (s,):
                raise ValueError(f"b_hat has shape {self.b_hat.shape}, expected ({s},)")
            self._check_order(self.b_hat, self.error_order, "b_hat")

    def _check_order(self, weights, order, name):
        residuals = order_residuals(self.A, weights, order)
        for p, r in enumerate(residuals, start=1):
            if r > TOLERANCE:
                raise ValueError(f"{name} fails the order-{p} conditions (residual {r:.2e}); claimed order {order}")

    @property
    def stages(self):
        return self.b.size

    @property
    def fsal(self):
        """First same as last: the last stage is evaluated at the new state, so it is reused."""
        return bool(np.array_equal(self.A[-1], self.b) and self.c[-1] == 1.0 and self.b[-1] == 0.0)

    @property
    def error_weights(self):
        """b - b_hat, the weights of the local error estimate (zeros for a fixed-step method)."""
        return self.b - self.b_hat if self.b_hat is not None else np.zeros_like(self.b)
