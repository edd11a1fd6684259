"""Shared paths and helpers for the sadbench test suite."""

import os
import sys
from pathlib import Path

# The CUDA tests (tests/test_cuda.py) run on numba-cuda's simulator unless NUMBA_ENABLE_CUDASIM=0 is set
# explicitly (a real GPU). numba.cuda reads numba's config when it is first imported, which is after this;
# numba itself is already loaded (pytest's filterwarnings names a numba warning), so its config is re-read.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")
if "numba.core.config" in sys.modules:
    sys.modules["numba.core.config"].reload_config()

import numpy as np

import sadbench

TESTS_DIR = Path(__file__).resolve().parent
PLUGIN_FILE = TESTS_DIR / "plugin_files" / "cubic_plugin.py"
THIRDPARTY_DIR = TESTS_DIR / "thirdparty"

#: The built-in integrators and their nominal orders (docs/science.md §5; plugins/integrators.py).
BUILTIN_ORDERS = {"euler": 1, "heun": 2, "bosh3": 3, "rk4": 4, "dopri5": 5}


def plugin_registry():
    """Built-in plugins plus the local plugin file (cached by sadbench per set of paths)."""
    return sadbench.get_registry(paths=[PLUGIN_FILE])


def explicit_rk_names(registry):
    """Integrators defined by a Butcher tableau (built-in and plugin ones alike)."""
    return [name for name in registry.names("integrator")
            if isinstance(getattr(registry.get("integrator", name), "tableau", None), sadbench.ButcherTableau)]


def builtin_names(registry, kind):
    """Names registered by sadbench's own plugins."""
    return sorted(e.spec.name for e in registry.entries(kind) if e.source == "sadbench (built-in)")


def sample_data(rng, n, d, k, labels):
    """X ~ N(0, 1) (n, d); Y real N(0, 1) targets or ±1 labels (n, k)."""
    X = rng.normal(size=(n, d))
    if labels == "sign":
        Y = np.where(rng.random((n, k)) < 0.5, -1.0, 1.0)
    else:
        Y = rng.normal(size=(n, k))
    return X, Y
