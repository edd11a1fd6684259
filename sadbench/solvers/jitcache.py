"""Keep numba's disk cache honest across modules.

numba invalidates a cached function only when its own source file changes, yet a compiled function
carries the code of every jitted function it calls from other modules: edit ``jacobian.py`` and ``bdf.py``'s
cached attempt silently keeps the old ``solve``. A module whose compiled functions call into others calls
:func:`drop_if_stale` at its top, before its ``@njit`` definitions compile (or load) themselves: when a
dependency's source is newer than the module's cache index, the module's cache files are removed and it
compiles afresh.
"""

from pathlib import Path


def drop_if_stale(module_file, *dependencies):
    """Remove ``module_file``'s numba cache (in its ``__pycache__``) if a dependency module is newer."""
    source = Path(module_file)
    cache = source.parent / "__pycache__"
    indexes = list(cache.glob(f"{source.stem}.*.nbi"))
    if not indexes:
        return
    newest = max(Path(module.__file__).stat().st_mtime for module in dependencies)
    if newest > min(index.stat().st_mtime for index in indexes):
        for path in cache.glob(f"{source.stem}.*.nb[ic]"):
            path.unlink(missing_ok=True)
