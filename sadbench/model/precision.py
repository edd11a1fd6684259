"""The working precisions of the gradient passes and the compile options every pass shares.

The gradient passes are compiled for float64 and float32 arrays, the same code (one overload each;
:data:`WORKING` holds each precision's types). The float32 overloads are compiled only once a float32 kernel
is built (:func:`compile_float32`), so a float64 user never compiles them. In float32
(``precision="float32"``) the entry point keeps the float64 contract of :mod:`sadbench.signatures`: it
rounds θ to float32 into the member's scratch, runs the forward and backward passes in float32 arithmetic
in a float32 view of the scratch (X and Y chunks, Z, σ(Z), σ′(Z), δ, ∇W: twice as many values per vector
register), and writes ∇L back as float64; the loss is summed in float64. The plugin's scalar functions
still run in float64, on float64(z), their results stored as float32. There are no float32 second-order
passes.
"""

from collections import namedtuple
from functools import lru_cache

from numba import types

from sadbench.jit import compiled

# Reassociation lets LLVM vectorise the dot products; it does not assume away NaN or inf, which the
# integrators must still see. The special functions (sadbench.model.vmath) keep their own stricter flags.
FASTMATH = {"reassoc", "contract", "arcp", "nsz"}
#: Options of every pass: no Python zero-division branch in the loops.
KERNEL = dict(fastmath=FASTMATH, error_model="numpy")
#: Options of the small helpers, inlined into each pass (LLVM alwaysinline).
INLINE = dict(fastmath=FASTMATH, error_model="numpy", forceinline=True)

MAT = types.float64[:, ::1]
VEC = types.float64[::1]
MAT32 = types.float32[:, ::1]
VEC32 = types.float32[::1]
INT = types.int64
WIDTHS = types.int64[::1]

# The types of the plugin-specific element-wise loops (sadbench.model.elementwise), in float64.
#: fdf(z, a, g): a = σ(z), g = σ′(z), element-wise
ACT_FDF = types.void(VEC, VEC, VEC)
#: d2(z, s): s *= σ″(z), element-wise (float64 only)
ACT_D2 = types.void(VEC, VEC)
#: loss(z, y, value, d1, d2, scale): value = ℓ(z, y); d1 = scale·∂ℓ/∂z; d2 = scale·∂²ℓ/∂z² if d2.size
LOSS_TERMS = types.void(VEC, VEC, VEC, VEC, VEC, types.float64)
ACT_FN = types.FunctionType(ACT_FDF)
D2_FN = types.FunctionType(ACT_D2)
LOSS_FN = types.FunctionType(LOSS_TERMS)

Working = namedtuple("Working", "mat vec fdf terms")
"""A working precision's array types and the first-class types of its element-wise loops."""

WORKING = {
    "float64": Working(MAT, VEC, ACT_FN, LOSS_FN),
    "float32": Working(MAT32, VEC32, types.FunctionType(types.void(VEC32, VEC32, VEC32)),
                       types.FunctionType(types.void(VEC32, VEC32, VEC32, VEC32, VEC32, types.float64))),
}
#: The working precisions of the gradient passes, the default first.
PRECISIONS = tuple(WORKING)
#: (dispatcher, signature) of every float32 overload, compiled by compile_float32()
FLOAT32_OVERLOADS = []


def passes(signature):
    """Decorator of a pass over working-precision arrays, typed by ``signature(working)``: compiled (and
    cached on disk) for float64 on first use, and for float32 by :func:`compile_float32`, so
    that a float64 user never compiles the float32 overloads."""

    def decorate(py_func):
        dispatcher = compiled(signature(WORKING["float64"]), closed=False, **KERNEL)(py_func)
        FLOAT32_OVERLOADS.append((dispatcher, signature(WORKING["float32"])))
        return dispatcher

    return decorate


@lru_cache(maxsize=None)
def compile_float32():
    """Compile (or load from numba's cache) the float32 overloads of the passes, once per process."""
    for dispatcher, signature in FLOAT32_OVERLOADS:
        dispatcher.compile(signature)

