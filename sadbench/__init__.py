"""sadbench: run, compare and track numerical experiments on the gradient flows of neural-network losses.

The public names load on first use (PEP 562), so ``import sadbench`` (and ``sadbench --help``) costs
almost nothing: numba and the kernels come with the first name that needs them.
"""

import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING

from sadbench.errors import PluginError, SadbenchError, UnknownNameError

if TYPE_CHECKING:  # the same names, for readers and static tools (type checkers, the API docs' griffe)
    from sadbench.hookspecs import hookimpl
    from sadbench.specs import Activation, Detector, Finding, Initialiser, Integrator, Loss, Target
    from sadbench.solvers.tableau import ButcherTableau
    from sadbench.solvers.rk import ExplicitRungeKutta
    from sadbench.plugins import get_registry
    from sadbench.model.network import Network
    from sadbench.integrate import integrate, resume
    from sadbench.options import OptionError, Save, StepControl
    from sadbench.solution import Solution
    from sadbench.verdicts.verdict import Verdict
    from sadbench.suites.suite import SuiteError, load_suite
    from sadbench.results import open_results

__version__ = "0.1.0"

#: Public name -> the module that defines it (the imports above; tests/test_structure.py checks that the two agree).
_LAZY = {
    "hookimpl": "sadbench.hookspecs",
    "Activation": "sadbench.specs", "Detector": "sadbench.specs", "Finding": "sadbench.specs",
    "Initialiser": "sadbench.specs", "Integrator": "sadbench.specs", "Loss": "sadbench.specs",
    "Target": "sadbench.specs",
    "ButcherTableau": "sadbench.solvers.tableau",
    "ExplicitRungeKutta": "sadbench.solvers.rk",
    "get_registry": "sadbench.plugins",
    "Network": "sadbench.model.network",
    "integrate": "sadbench.integrate", "resume": "sadbench.integrate",
    "OptionError": "sadbench.options", "Save": "sadbench.options", "StepControl": "sadbench.options",
    "Solution": "sadbench.solution",
    "Verdict": "sadbench.verdicts.verdict",
    "SuiteError": "sadbench.suites.suite", "load_suite": "sadbench.suites.suite",
    "open_results": "sadbench.results",
}

__all__ = sorted(["PluginError", "SadbenchError", "UnknownNameError", *_LAZY])


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module 'sadbench' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


class _Package(types.ModuleType):
    """``sadbench.integrate`` is the function, even though the module of that name binds itself to the package
    when it is imported (as the function's own module, imported first, would otherwise)."""

    def __setattr__(self, name, value):
        if name == "integrate" and isinstance(value, types.ModuleType):
            value = value.integrate
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
