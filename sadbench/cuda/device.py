"""The one module that imports numba-cuda: the device, whether it can run, and what the other modules of
:mod:`sadbench.cuda` use of the library (``cuda``, its pickler, its intrinsics), so that a switch of GPU
library starts here. ``import sadbench`` never imports this module; ``sadbench.cuda`` does, on demand.
"""

import numpy as np
from numba import cuda  # noqa: F401  (re-exported: the kernels' ``cuda.jit``, ``cuda.shared``, ...)
from numba.cuda import serialize
from numba.cuda.extending import intrinsic  # noqa: F401  (re-exported: translate.py re-registers intrinsics)

from sadbench.errors import SadbenchError

if not hasattr(np, "row_stack"):
    # numba-cuda 0.30 registers an overload of np.row_stack (an alias of vstack that NumPy 2.5 removed) when
    # it compiles its first kernel; without the alias no kernel compiles under NumPy >= 2.5.
    np.row_stack = np.vstack


def simulated():
    """Whether the kernels run on numba-cuda's simulator (``NUMBA_ENABLE_CUDASIM=1``)."""
    from numba.cuda.core import config

    return bool(config.ENABLE_CUDASIM)


def available():
    """Whether a CUDA device (or numba-cuda's simulator, ``NUMBA_ENABLE_CUDASIM=1``) can run the kernels."""
    try:
        return simulated() or cuda.is_available()
    except Exception:  # a broken driver installation means "not available", whatever numba raises
        return False


def require():
    """Raise a SadbenchError that says why when the CUDA backend cannot run here."""
    if not available():
        raise SadbenchError(
            "backend 'cuda' needs an NVIDIA GPU with a working driver: numba.cuda.is_available() is False "
            "here. Use backend='cpu', or set NUMBA_ENABLE_CUDASIM=1 to run the kernels on numba-cuda's "
            "(slow) simulator."
        )


def multiprocessors():
    """The current device's count of streaming multiprocessors (1 on the simulator)."""
    if simulated():
        return 1
    return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)


def picklable(*values):
    """Whether numba-cuda can pickle ``values`` (it pickles a kernel's closure for its disk-cache key)."""
    try:
        serialize.dumps(values)
    except Exception:  # pickling raises many error types
        return False
    return True
