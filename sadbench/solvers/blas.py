"""One BLAS thread while the compiled driver runs.

The stiff methods call BLAS/LAPACK (eigendecompositions, matrix-vector products with P ~ 500) from inside
the driver, whose parallelism is over ensemble members. OpenBLAS's own threads then only fight the
driver's threads and each other: measured on SAD 1D (P = 461) on 2 cores, a whole run took 55 s with
OpenBLAS's default threads and 4.7 s with one. numba calls the OpenBLAS that scipy ships, so the
environment variable is read too early to help; this sets the thread count of every OpenBLAS loaded in
the process for the duration of a ``with`` block (what threadpoolctl does, for OpenBLAS on Linux only;
elsewhere it does nothing).
"""

import ctypes
from contextlib import contextmanager

_PREFIXES = ("openblas", "scipy_openblas")
_SUFFIXES = ("", "64_")


def _openblas_libraries():
    """(get, set) function pairs of the OpenBLAS libraries mapped into this process."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps}
    except OSError:
        return []
    paths = {path for path in paths if "openblas" in path.rsplit("/", 1)[-1] and ".so" in path}
    found = []
    for path in sorted(paths):
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    found.append((get, put))
    return found


@contextmanager
def one_blas_thread():
    libraries = _openblas_libraries()
    previous = [get() for get, _ in libraries]
    for _, put in libraries:
        put(1)
    try:
        yield
    finally:
        for (_, put), count in zip(libraries, previous):
            put(count)
