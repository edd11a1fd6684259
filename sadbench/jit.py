"""How sadbench compiles its numba code: cached on disk under a key that covers every file the code comes from.

numba keys a cached function by its own source file only, yet the machine code of a compiled function embeds
every jitted function it calls, from whatever module: edit ``model/layout.py`` and the cached passes of
``model/gradient.py`` would silently keep the old offsets. A function decorated with :func:`compiled` is
stamped, when it first compiles or loads, with a digest of every source file its code reaches
(:func:`source_files`: through globals, module attributes, closures and numba intrinsics), so an edit
anywhere in that set recompiles it, and an edit elsewhere does not.

Functions called through first-class function arguments (``sadbench.signatures.FUNCTIONS``, the
integrators' ``attempt``) are not reached: their code is not linked in, so it is not part of the key.
"""

import ast
import hashlib
import sys
import types as pytypes
from functools import lru_cache
from pathlib import Path

from numba import njit
from numba.core.extending import _Intrinsic
from numba.core.registry import CPUDispatcher
from numba.core.types import CompileResultWAP


def global_names(py_func):
    """The global names ``py_func``'s code (nested functions included) may look up."""
    names = set()
    stack = [py_func.__code__]
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, pytypes.CodeType))
    return names


def uses_njit(module):
    """Whether a module holds numba functions or intrinsics (code may reach them as ``module.name``)."""
    return any(isinstance(v, (CPUDispatcher, _Intrinsic)) for v in vars(module).values())


@lru_cache(maxsize=None)
def _imported_from(path):
    """{name: module name} of the ``from module import name`` statements of a source file."""
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return {}
    return {alias.asname or alias.name: node.module for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and not node.level for alias in node.names}


def _constant_source(value, name):
    """The file a global constant of ``value`` (a Python function) was imported from, if any: numba freezes
    global constants into the machine code, so their module is a source too."""
    module = sys.modules.get(_imported_from(value.__code__.co_filename).get(name))
    return getattr(module, "__file__", None)


def source_files(*functions):
    """Every source file the compiled code of ``functions`` (njit functions or Python functions) comes from:
    their own, those of the njit functions, intrinsics and modules they reach through globals and closures,
    transitively, and those of the global constants they import. A module reached as a whole (``vmath.exp``
    through the global ``vmath``) counts with its own file and every njit function it holds."""
    files, seen = set(), set()
    stack = [getattr(fn, "py_func", fn) for fn in functions]
    while stack:
        value = stack.pop()
        if id(value) in seen:
            continue
        seen.add(id(value))
        if isinstance(value, CPUDispatcher):
            stack.append(value.py_func)
        elif isinstance(value, _Intrinsic):
            stack.append(value._defn)
        elif isinstance(value, pytypes.ModuleType):  # code reads its attributes: functions and constants
            files.add(getattr(value, "__file__", None))
            if uses_njit(value):
                stack.extend(v for v in vars(value).values() if isinstance(v, (CPUDispatcher, _Intrinsic)))
        elif isinstance(value, pytypes.FunctionType):
            files.add(value.__code__.co_filename)
            for name in global_names(value) & value.__globals__.keys():
                reached = value.__globals__[name]
                if isinstance(reached, (int, float, complex, bool, str, bytes, tuple)):
                    files.add(_constant_source(value, name))
                else:
                    stack.append(reached)
            stack.extend(cell.cell_contents for cell in value.__closure__ or () if _filled(cell))
    files.discard(None)
    return files


def _filled(cell):
    try:
        cell.cell_contents
    except ValueError:  # a closure cell not assigned yet
        return False
    return True


def source_digest(*functions):
    """A digest (non-negative int) of the contents of :func:`source_files` of ``functions``."""
    digest = hashlib.sha256()
    for path in sorted(source_files(*functions)):
        digest.update(path.encode() + b"\0" + _read_or_empty(path))
    return int(digest.hexdigest()[:15], 16)


def _read_or_empty(path):
    """A source file's bytes; none for code with no file (a notebook cell, ``exec``), which numba keys by
    its bytecode anyway."""
    try:
        return Path(path).read_bytes()
    except OSError:
        return b""


class CachedDispatcher(CPUDispatcher):
    """A numba dispatcher whose disk cache is stamped with :func:`source_digest` of its function, set
    before its first compilation or cache load (by then every module its code reaches has been loaded)."""

    _stamped = False

    def compile(self, sig):
        if not self._stamped:
            # numba compares this stamp with the one stored in the cache index; a mismatch discards the
            # index, and the fresh compilation overwrites it.
            self._cache._cache_file._source_stamp = ("sadbench", source_digest(self.py_func))
            self._stamped = True
        return super().compile(sig)


def compiled(signature=None, **options):
    """``numba.njit(signature, cache=True, **options)``, its cache invalidated by an edit of any file its
    code reaches (see the module docstring)."""

    def decorate(py_func):
        dispatcher = njit(cache=True, **options)(py_func)
        dispatcher.__class__ = CachedDispatcher
        if signature is not None:
            dispatcher.compile(signature)
            dispatcher.disable_compile()
        return dispatcher

    return decorate


def first_class(dispatcher, signature=None):
    """A compiled function as a first-class function constant: a closure that calls it embeds its address
    instead of linking in, re-optimising and re-generating its machine code, which is what makes building
    the kernels of a new activation × loss take a fraction of a second. ``signature`` picks the overload of
    a function that has several (a pass compiled for both precisions)."""
    if signature is None:
        (args,) = dispatcher.signatures
    else:
        args = signature.args
    return CompileResultWAP(dispatcher.overloads[args])
