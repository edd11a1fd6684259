"""The gradient's code with literal shapes, for ``gradient_speed.py --breakdown``: what kernels generated per
architecture would run, against the generic passes of :mod:`sadbench.model.kernels`.

The generic passes take the widths at run time and view every layer's rows in one scratch vector, so LLVM
guards each inner loop with runtime alias checks. Here the shapes, the offsets into the scratch and the
chunk's length are literals: LLVM sees that the rows are disjoint. Both compute the same operations in the
same order, which :func:`check_same` verifies bit for bit before anything is timed.
"""

import numpy as np
from numba import njit

from sadbench.model import blocks, layout, precision

LOOP = {"fastmath": precision.FASTMATH, "error_model": "numpy"}
#: blocks.outer_acc's code, inlined into the generated gradient instead of called.
_outer_acc = njit(**precision.INLINE)(blocks.outer_acc.py_func)


def literal_product(n_out, n_in, c):
    """Z = W·A + b in one scratch vector (A, then Z), with the shapes and offsets closure constants, which
    numba freezes. Blocks of four destination by four source rows, as in the generic product (widths
    divisible by four)."""

    @njit(**LOOP)
    def product(W, b, work, reps):
        for _ in range(reps):
            for j in range(0, n_out, 4):
                for m in range(0, n_in, 4):
                    for i in range(c):
                        x0, x1 = work[m * c + i], work[(m + 1) * c + i]
                        x2, x3 = work[(m + 2) * c + i], work[(m + 3) * c + i]
                        for r in range(j, j + 4):
                            at = (n_in + r) * c + i
                            start = b[r] if m == 0 else work[at]
                            work[at] = start + W[r, m] * x0 + W[r, m + 1] * x1 + W[r, m + 2] * x2 + W[r, m + 3] * x3

    return product


def literal_gradient(widths, bias, n):
    """:func:`sadbench.model.gradient.loss_grad_pass` for one architecture and n ≤ ``layout.CHUNK`` points (one
    chunk), its layer loops unrolled into generated source with every shape and offset a literal:
    ``gradient(X, Y, work, theta, grad, sign, fdf, terms)`` returns L and writes sign·∇L into ``grad``."""
    if n > layout.CHUNK:
        raise ValueError(f"literal_gradient handles one chunk of at most {layout.CHUNK} points, not {n}")
    widths_array = np.asarray(widths, dtype=np.int64)
    fields = dict(zip(layout.LAYOUT_FIELDS, layout.layout(widths_array, n)))
    c, layers = fields["chunk"], len(widths) - 1

    def rows(start, count, shape=True):
        region = f"work[{start}:{start + count * c}]"
        return f"{region}.reshape(({count}, {c}))" if shape else region

    row_of = [layout.row_offset(widths_array, l + 1) for l in range(layers)]  # first rows in each region
    param_of = [layout.param_offset(widths_array, bias, l) for l in range(layers)]
    d, k = widths[0], widths[-1]
    body = ["grad[:] = 0.0"]
    body += [f"for i in range({c}):"] + [f"    work[{fields['x'] + j * c} + i] = X[i, {j}]" for j in range(d)]
    body += [f"    work[{fields['y'] + j * c} + i] = Y[i, {j}]" for j in range(k)]

    def layer(l):
        """Of a 0-based layer: W and its bias's slice of θ, the scratch offsets of its Z, σ(Z), σ′(Z) and δ
        rows, its input's rows, and its width."""
        fan_in, fan_out, p = widths[l], widths[l + 1], param_of[l]
        W = f"theta[{p}:{p + fan_out * fan_in}].reshape(({fan_out}, {fan_in}))"
        b = f"{p + fan_out * fan_in}:{p + fan_out * fan_in + (fan_out if bias else 0)}"
        at = row_of[l] * c
        a_in = rows(fields["x"], d) if l == 0 else rows(fields["a"] + row_of[l - 1] * c, fan_in)
        return W, b, (fields["z"] + at, fields["a"] + at, fields["g"] + at, fields["delta"] + at), a_in, fan_out

    for l in range(layers):
        W, b, (z, a, g, _), a_in, fan_out = layer(l)
        body.append(f"matmul({W}, {a_in}, {rows(z, fan_out)}, False, {2 if bias else 1}, theta[{b}])")
        if l < layers - 1:
            body.append(f"fdf({rows(z, fan_out, False)}, {rows(a, fan_out, False)}, {rows(g, fan_out, False)})")
    _, _, (z, _, _, delta), _, _ = layer(layers - 1)
    loss_terms = (f"terms({rows(z, k, False)}, {rows(fields['y'], k, False)}, values, {rows(delta, k, False)}, "
                  f"work[0:0], sign / {n})")
    body += [f"values = {rows(fields['lv'], k, False)}", loss_terms, "total = 0.0", "for i in range(values.size):",
             "    total += values[i]"]
    for l in range(layers - 1, -1, -1):
        W, b, (_, _, _, delta), a_in, fan_out = layer(l)
        gW = W.replace("theta", "grad")
        body.append(f"outer({rows(delta, fan_out)}, {a_in}, {gW}, grad[{b}])")
        if l > 0:
            _, _, (_, _, g, back), _, fan_in = layer(l - 1)
            body.append(f"matmul({W}, {rows(delta, fan_out)}, {rows(back, fan_in)}, True, 1, theta)")
            body += [f"for i in range({fan_in * c}):", f"    work[{back} + i] *= work[{g} + i]"]
    body.append(f"return total / {n}")
    source = "def gradient(X, Y, work, theta, grad, sign, fdf, terms):\n" + "\n".join("    " + s for s in body)
    namespace = {"matmul": blocks._matmul, "outer": _outer_acc}
    exec(source, namespace)
    return njit(**LOOP)(namespace["gradient"])
