"""On-disk caching for kernels that factories build as closures over plugin functions.

numba keys its cache on a pickle of a closure's cells, and a pickled dispatcher carries a per-process UUID,
so closures over jitted functions never hit the cache. This key is built instead from what the code *is*:
the bytecode and constants of the function, of every function in its closure, and of every jitted function
it references as a global, recursively. Unlike numba's own key it also notices a change in a helper
imported from another file.
"""

import hashlib
import types as pytypes

from numba import njit
from numba.core.caching import FunctionCache
from numba.core.registry import CPUDispatcher


def _code_identity(code, seen):
    parts = [code.co_code.hex(), code.co_name]
    for const in code.co_consts:
        parts.append(_code_identity(const, seen) if isinstance(const, pytypes.CodeType) else repr(const))
    return "|".join(parts)


def _identity(obj, seen):
    """A string that changes when the code behind ``obj`` changes and is equal across processes."""
    if isinstance(obj, CPUDispatcher):
        return "jit:" + _identity(obj.py_func, seen)
    if isinstance(obj, pytypes.FunctionType):
        name = f"{obj.__module__}.{obj.__qualname__}"
        if id(obj) in seen:
            return name
        seen.add(id(obj))
        parts = [name, _code_identity(obj.__code__, seen)]
        for cell in obj.__closure__ or ():
            parts.append(_identity(cell.cell_contents, seen))
        for global_name in obj.__code__.co_names:
            value = obj.__globals__.get(global_name)
            if isinstance(value, (CPUDispatcher, pytypes.FunctionType)):
                parts.append(global_name + "=" + _identity(value, seen))
        return "(" + ",".join(parts) + ")"
    if isinstance(obj, pytypes.ModuleType):
        return "module:" + obj.__name__
    return type(obj).__name__ + ":" + repr(obj)


def code_digest(fn):
    return hashlib.sha256(_identity(fn, set()).encode()).hexdigest()


class StableFunctionCache(FunctionCache):
    """numba's function cache with an index key that is stable for closures (see the module docstring)."""

    def _index_key(self, sig, codegen):
        return (sig, codegen.magic_tuple(), (code_digest(self._py_func),))


def njit_cached(signature, **options):
    """Like ``@njit(signature, cache=True)``, but the cache also hits for closures in a new process."""

    def decorate(fn):
        dispatcher = njit(**options)(fn)
        dispatcher._cache = StableFunctionCache(fn)
        dispatcher.compile(signature.args)
        dispatcher.disable_compile()
        return dispatcher

    return decorate
