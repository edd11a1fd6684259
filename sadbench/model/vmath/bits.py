"""The pieces every special function is built from: the compile options (:data:`OPTIONS`, see
:mod:`sadbench.model.vmath`), constants written as fdlibm writes them, and bit casts and a fused multiply-add
as numba intrinsics (vectorisable, no memory round trip)."""

import struct

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

FASTMATH = {"contract"}
OPTIONS = dict(fastmath=FASTMATH, error_model="numpy", forceinline=True, cache=True)


def from_words(hi, lo):
    """The double whose IEEE-754 bits are the 32-bit words ``hi``, ``lo`` (as fdlibm writes constants)."""
    return struct.unpack(">d", struct.pack(">II", hi, lo))[0]


# --- bit manipulation --------------------------------------------------------------------------------


@intrinsic
def as_int(typingctx, x):
    """The IEEE-754 bits of a float64 as an int64 (a bitcast: vectorisable, no memory round trip)."""
    if x != types.float64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def as_float(typingctx, i):
    """The float64 whose IEEE-754 bits are the int64 ``i``."""
    if i != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a·b + c with one rounding (``llvm.fma``; a hardware FMA on every x86-64 with AVX2)."""
    if not all(t == types.float64 for t in (a, b, c)):
        return None

    def codegen(context, builder, signature, args):
        double = ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(double, [double] * 3), "llvm.fma.f64")
        return builder.call(fn, args)

    return types.float64(types.float64, types.float64, types.float64), codegen


