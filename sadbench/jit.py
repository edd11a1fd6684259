"""How sadbench compiles its numba code: on first use, cached on disk under a key that covers every file the code
comes from.

Nothing compiles when a module is imported: a :func:`compiled` function with a declared signature (which
``numba.njit(signature)`` would compile at decoration) compiles, or loads from the cache, when something
first needs it. So ``import sadbench`` costs imports only, and a run compiles what it uses: an explicit
Runge–Kutta run never compiles the stiff solvers or the Hessian passes.

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
import importlib
import os
import subprocess
import sys
import threading
import types as pytypes
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import numba
import numpy as np
from numba import njit
from numba.core import event, sigutils
from numba.core.extending import _Intrinsic
from numba.core.registry import CPUDispatcher
from numba.core.types import CompileResultWAP

try:
    import fcntl
except ImportError:  # Windows: no lock, a function may compile in two processes at once
    fcntl = None


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


_READY = threading.RLock()


class CachedDispatcher(CPUDispatcher):
    """A numba dispatcher that compiles on first use and keys its disk cache honestly.

    Its declared signature (``numba.njit(signature)`` compiles one at decoration) is compiled, or loaded
    from the cache, the first time anything needs the function: a call from Python, the typing of a call
    from other compiled code, a conversion to a first-class function, ``signatures``; after that it
    behaves as ``njit(signature)`` does (no other signature compiles, unless ``closed`` is false). Its
    cache index is stamped with :func:`source_digest` of its function just before its first compilation or
    cache load, when every module its code reaches has been loaded.
    """

    _stamped = False
    _declared = None  # the declared signature, until it is compiled
    _signature = None  # the declared signature
    _closed = True

    @property
    def declared_signature(self):
        """The signature declared at decoration (compiled or not yet)."""
        return self._signature

    @property
    def declared(self):
        """The argument types of the signatures it has or will compile on first use, without compiling."""
        if self._declared is None:
            return list(self.overloads)
        return [tuple(sigutils.normalize_signature(self._declared)[0])]

    def cached(self):
        """Whether the declared signature is in the disk cache (stamped as :meth:`compile` would find it)."""
        if self._declared is None:
            return True
        self._stamp()
        key = self._cache._index_key(self._declared, self.targetctx.codegen())
        return key in self._cache._cache_file._load_index()

    def ready(self):
        """Compile (or load from the cache) the declared signature now; a no-op once done. When another
        process is compiling it (a helper of :func:`compile_elsewhere`), wait for it and load its result."""
        if self._declared is None:
            return self
        with _READY:  # threads may need it at once: the others wait until it is there
            if self._declared is not None:
                self._compile_now(self._declared)
                if self._closed:
                    self._can_compile = False  # numba's disable_compile(), without its look at signatures
                self._declared = None
        return self

    def compile(self, sig):
        self.ready()
        return self._compile_now(sig)

    def _stamp(self):
        if not self._stamped:
            # numba compares this stamp with the one stored in the cache index; a mismatch discards the
            # index, and the fresh compilation overwrites it.
            self._cache._cache_file._source_stamp = ("sadbench", source_digest(self.py_func))
            self._stamped = True

    def _compile_now(self, sig):
        self._stamp()
        args, _ = sigutils.normalize_signature(sig)
        existing = self.overloads.get(tuple(args))
        if existing is not None:  # numba refuses even an existing one once compilation is disabled
            return existing.entry_point
        with compiling_alone(self, sig):  # numba looks in the cache first: another process may have filled it
            return super().compile(sig)

    def _compile_for_args(self, *args, **kws):
        if self._declared is None:
            return super()._compile_for_args(*args, **kws)
        self.ready()
        return self  # numba's C dispatcher calls it again: now it matches the declared signature

    def get_call_template(self, args, kws):
        self.ready()
        return super().get_call_template(args, kws)

    def get_compile_result(self, sig):
        self.ready()
        return super().get_compile_result(sig)

    @property
    def signatures(self):
        self.ready()
        return super().signatures


_HELD = threading.local()  # the lock files this thread holds (a nested compile must not wait for itself)


@contextmanager
def compiling_alone(dispatcher, sig=None):
    """Hold ``dispatcher``'s compile lock, a file beside its cache index locked across processes, so that a
    function compiles in one process at a time: a first run compiles in two (:func:`compile_elsewhere`), and
    one that needs a function the other is compiling waits for it and then loads it from the cache instead
    of compiling it again. The wait is this process's compile time: a compile event says so. Re-entrant;
    without ``fcntl`` (Windows) or a writable cache folder there is no lock."""
    try:
        path = dispatcher._cache._cache_file._index_path + ".lock"
    except AttributeError:  # no disk cache
        path = None
    held = getattr(_HELD, "paths", None)
    if held is None:
        held = _HELD.paths = set()
    if fcntl is None or path is None or path in held:
        yield
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        lock = open(path, "a+b")
    except OSError:
        yield
        return
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another process is compiling it
            with event.trigger_event("numba:compile", data={"dispatcher": dispatcher, "args": sig,
                                                            "return_type": None}):
                fcntl.flock(lock, fcntl.LOCK_EX)
        held.add(path)
        try:
            yield
        finally:
            held.discard(path)
            fcntl.flock(lock, fcntl.LOCK_UN)


def compiled(signature=None, closed=True, **options):
    """``numba.njit(signature, cache=True, **options)``, compiled on first use rather than at decoration,
    its cache invalidated by an edit of any file its code reaches (see the module docstring). ``closed``:
    once the declared signature is compiled, no other one is (as with ``njit(signature)``)."""

    def decorate(py_func):
        dispatcher = njit(cache=True, **options)(py_func)
        dispatcher.__class__ = CachedDispatcher
        dispatcher._declared = dispatcher._signature = signature
        dispatcher._closed = closed
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
        args = tuple(signature.args)
        dispatcher.compile(signature)  # or load it; one already there is returned as it is
    return CompileResultWAP(dispatcher.overloads[args])


_HELPERS = {}  # dispatcher -> the helper process started to compile it


def compile_elsewhere(*dispatchers):
    """Compile ``dispatchers`` (:func:`compiled` functions with a declared signature), in this order, in a
    helper process while this one goes on, into the shared disk cache: a first run then compiles on two
    cores. When this process needs one of them it waits for the helper if the helper is compiling it, loads
    it if the helper is done, and compiles it itself if the helper has not come to it yet (each function
    compiles once: :func:`compiling_alone`). Nothing happens for those cached already (every run after the
    first), or on a single CPU."""
    todo = [d for d in dispatchers if isinstance(d, CachedDispatcher) and d not in _HELPERS and not d.cached()]
    if not todo or (os.cpu_count() or 1) < 2:
        return
    names = [(d.py_func.__module__, d.py_func.__qualname__) for d in todo]
    # this process's sys.path, so that the helper compiles the very files this process runs: as `python -c`
    # it would otherwise look in its working folder first, where a source checkout shadows an installed
    # sadbench (the quick start runs from the checkout) and its cache would go unused
    code = (f"import sys; sys.path[:] = {sys.path!r}; from sadbench.jit import _compile_named; "
            f"_compile_named({names!r}, {os.getpid()})")
    helper = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    for dispatcher in todo:
        _HELPERS[dispatcher] = helper


def _compile_named(names, parent):
    """The helper process of :func:`compile_elsewhere`: compile the functions named (module, qualified name);
    it ends when ``parent`` dies (numba writes each cache file whole, under a temporary name first)."""
    from sadbench.suites.executors import _die_with

    _die_with(parent)
    for module, name in names:
        getattr(importlib.import_module(module), name).ready()


def over_threads(fn, count, *args):
    """Call ``fn(*args, first, last)`` on blocks of ``range(count)`` spread over numba's threads
    (``numba.get_num_threads()``, which ``numba.set_num_threads`` and ``NUMBA_NUM_THREADS`` set): ``fn`` is a
    compiled function that releases the GIL (``nogil=True``) and handles the items of its block one after
    the other. Four blocks per thread keep the threads busy when items take unequal times (ensemble
    members on their own step sizes)."""
    threads = min(numba.get_num_threads(), count)
    if isinstance(fn, CachedDispatcher):
        fn.ready()
    if threads <= 1:
        fn(*args, 0, count)
        return
    bounds = np.linspace(0, count, min(count, 4 * threads) + 1).astype(np.int64)
    pool = _pool(threads)
    for future in [pool.submit(fn, *args, first, last) for first, last in zip(bounds[:-1], bounds[1:])]:
        future.result()


_POOLS = {}


def _pool(threads):
    """One pool of ``threads`` worker threads per process, made on first use."""
    if threads not in _POOLS:
        _POOLS[threads] = ThreadPoolExecutor(threads, thread_name_prefix="sadbench")
    return _POOLS[threads]


@contextmanager
def reporting_compilation(callback):
    """Within the block, ``callback(True)`` when numba starts compiling a :func:`compiled` function in this
    process (one not in the disk cache: a first run's work) and ``callback(False)`` when it has finished
    (nested compilations report too: count them). The small closures that call the compiled code are
    left out: they compile in every process, in a fraction of a second."""

    def cached(ev):
        return isinstance(ev.data["dispatcher"], CachedDispatcher)

    class Listener(event.Listener):
        def on_start(self, ev):
            if cached(ev):
                callback(True)

        def on_end(self, ev):
            if cached(ev):
                callback(False)

    with event.install_listener("numba:compile", Listener()):
        yield
