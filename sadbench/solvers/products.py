"""Hessian-vector products for the stiff methods' linear algebra: exact, or by a difference of gradients.

The exact product (Pearlmutter's R-operator, :mod:`sadbench.model.second_order`) costs about two and a half
gradients (measured on SAD 2D, P = 1741, 2000 points: 2.3 ms against 0.9 ms). A Newton matrix, a Lanczos
model of it or a GMRES iteration on it only needs the product to a few digits: the forward difference
(∇L(y + εv) − ∇L(y))/ε, with ∇L(y) already known, costs one gradient, and its error of order
ε·||∇³L|| ≈ 1e-7 relative is far below what they need. The solution stays exact: Newton iterates on the
exact gradient, and only its rate of convergence depends on the matrix.
"""

import math

from sadbench.jit import compiled
from sadbench.solvers.vectors import fill

#: √(machine epsilon): the forward difference's step, relative to 1 + ||y||.
ROOT_EPS = 1.4901161193847656e-08


@compiled()
def product(functions, prob, y, f, v, out, shifted, difference):
    """out = ∇²L(y)·v: exact, or with ``difference`` the forward difference of the gradient with
    ε = √eps·(1 + ||y||)/||v||, given f = −∇L(y); ``shifted`` is scratch of y's size."""
    if not difference:
        functions[1](prob, y, v, out)
        return
    y_norm = 0.0
    v_norm = 0.0
    for p in range(y.size):
        y_norm += y[p] * y[p]
        v_norm += v[p] * v[p]
    if v_norm == 0.0:
        fill(out, 0.0)
        return
    eps = ROOT_EPS * (1.0 + math.sqrt(y_norm)) / math.sqrt(v_norm)
    for p in range(y.size):
        shifted[p] = y[p] + eps * v[p]
    functions[0](prob, shifted, out)
    for p in range(y.size):
        out[p] = (f[p] - out[p]) / eps
