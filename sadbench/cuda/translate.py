"""sadbench's njit functions as CUDA device functions, compiled from their Python source.

CUDA has no first-class functions, so a kernel must capture the device versions of the functions it calls
when it is built: a plugin's activation and loss (:func:`device_function`) and the step logic the CPU
driver uses (:func:`shared_function`, :mod:`sadbench.solvers.control`). Their source is compiled for CUDA
with their globals and closures translated: njit functions are recompiled from their source the same way,
numba intrinsics re-registered for CUDA, modules holding either shadowed, so a third-party plugin's
activation runs on the GPU without a CUDA-specific version. On the simulator (which runs kernels in
Python) the CPU functions are called instead.
"""

import math
import types as pytypes
from functools import lru_cache

from numba.core.extending import _Intrinsic
from numba.core.registry import CPUDispatcher

from sadbench.cuda.device import cuda, intrinsic, picklable, simulated
from sadbench.errors import SadbenchError
from sadbench.jit import global_names, uses_njit
from sadbench.specs import _cause


class _ShadowModule(pytypes.ModuleType):
    """A stand-in for a module used by a plugin function: attribute look-ups return device versions of its
    njit functions (numba resolves ``module.attr`` at compile time through ``getattr``)."""

    def __init__(self, module):
        super().__init__(module.__name__ + "_cuda")
        object.__setattr__(self, "_module", module)

    def __getattr__(self, name):
        return _translate(getattr(object.__getattribute__(self, "_module"), name))

    def __reduce__(self):  # numba-cuda pickles a kernel's closure for its disk-cache key
        return _ShadowModule, (object.__getattribute__(self, "_module"),)


@cuda.jit(device=True)
def _floor(x):
    return int(math.floor(x))


@cuda.jit(device=True)
def _ceil(x):
    return int(math.ceil(x))


@cuda.jit(device=True)
def _trunc(x):
    return int(math.trunc(x))


class _CudaMath(pytypes.ModuleType):
    """``math`` as CPU numba types it: ``floor``, ``ceil`` and ``trunc`` of a float return an integer
    (numba-cuda returns a float, which breaks integer code such as ``math.floor(x) >> 1``)."""

    _integer = {"floor": _floor, "ceil": _ceil, "trunc": _trunc}

    def __getattr__(self, name):
        return self._integer.get(name) or getattr(math, name)

    def __reduce__(self):
        return _CudaMath, ("math",)


def _translate(value):
    """:func:`_translate_hashable`, for any value (unhashable ones, arrays say, are constants: kept)."""
    try:
        hash(value)
    except TypeError:
        return value
    return _translate_hashable(value)


@lru_cache(maxsize=None)
def _translate_hashable(value):
    """The CUDA counterpart of a value a plugin function refers to: njit functions are recompiled from their
    Python source, numba intrinsics re-registered for CUDA, modules holding either shadowed; anything
    else (constants, ``math``) is left as it is."""
    if isinstance(value, CPUDispatcher):
        return device_from_source(value.py_func)
    if isinstance(value, _Intrinsic):
        return intrinsic(value._defn)
    if value is math:
        return _CudaMath("math")
    if isinstance(value, pytypes.BuiltinFunctionType) and value.__name__ in _CudaMath._integer and (
            getattr(math, value.__name__, None) is value):
        return _CudaMath._integer[value.__name__]
    if isinstance(value, pytypes.ModuleType) and uses_njit(value):
        return _ShadowModule(value)
    return value


def cacheable(*device_functions):
    """Whether numba-cuda can key a disk-cached kernel that calls these: it pickles the kernel's closure,
    and a plugin function could hold something that does not pickle; its kernel is then compiled uncached."""
    return not simulated() and picklable(*device_functions)


def device_from_source(py_func, argtypes=None):
    """``py_func`` as a CUDA device function, its globals and closure translated; compiled now for
    ``argtypes`` when given (numba-cuda's eager compilation), else at its first call."""
    env = dict(py_func.__globals__)
    for name in global_names(py_func) & env.keys():
        env[name] = _translate(env[name])
    closure = None
    if py_func.__closure__:
        closure = tuple(pytypes.CellType(_translate(cell.cell_contents)) for cell in py_func.__closure__)
    clone = pytypes.FunctionType(py_func.__code__, env, py_func.__name__, py_func.__defaults__, closure)
    clone.__kwdefaults__ = py_func.__kwdefaults__
    if argtypes is None:
        return cuda.jit(device=True)(clone)
    return cuda.jit(argtypes, device=True)(clone)


def device_function(fn, what, nargs):
    """``fn`` (a plugin's njit function of ``nargs`` floats) as a CUDA device function, compiled now so that
    a function CUDA cannot compile is named (``what``) before any kernel is built.

    On the simulator the compiled CPU function itself is called (the simulator runs kernels in Python).
    """
    if not isinstance(fn, CPUDispatcher):
        raise SadbenchError(f"{what} is not a numba @njit function, so it cannot be compiled for CUDA")
    if simulated():
        def call(*args):
            return fn(*args)

        return cuda.jit(device=True)(call)
    try:
        return device_from_source(fn.py_func, (cuda.float64,) * nargs)
    except Exception as exc:  # numba-cuda raises many error types; all mean "cannot compile"
        raise SadbenchError(f"{what} cannot be compiled for CUDA: {_cause(exc)}") from exc


@lru_cache(maxsize=None)
def shared_function(fn):
    """One of sadbench's own njit functions (the driver's step logic) as a CUDA device function, typed at
    its first call from a kernel. On the simulator its Python source runs as it is (the simulator's arrays
    cannot be passed to the compiled CPU function)."""
    if simulated():
        return cuda.jit(device=True)(fn.py_func)
    return device_from_source(fn.py_func)
