"""sadbench: run, compare and track numerical experiments on the gradient flows of neural-network losses."""

from sadbench.errors import PluginError, SadbenchError, UnknownNameError
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

__all__ = [
    "Activation", "ButcherTableau", "Detector", "ExplicitRungeKutta", "Finding", "Initialiser", "Integrator",
    "Loss", "Network", "OptionError", "PluginError", "SadbenchError", "Save", "Solution", "StepControl", "SuiteError",
    "Target", "UnknownNameError", "Verdict", "load_suite", "open_results",
    "get_registry", "hookimpl", "integrate", "resume",
]
