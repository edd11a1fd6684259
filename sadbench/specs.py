"""What a plugin registers: one small frozen dataclass per kind, each able to check itself.

``check()`` is called by the registry at registration time; it raises ``ValueError`` with a message that the
registry prefixes with the plugin's name, so the user learns which plugin is broken before anything runs.
"""

import inspect
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from numba import types
from numba.core.registry import CPUDispatcher

from sadbench.errors import SadbenchError
from sadbench.jit import CachedDispatcher

#: Where registration compares derivatives with finite differences: both signs, outwards from near 0 into
#: the tails (|x| up to 50, where a careless formula overflows or loses its digits), at values where common
#: piecewise activations (kinks at 0, ±1, ±3, ±6) are smooth.
_PROBE_POINTS = np.array([s * m for m in (0.05, 0.35, 0.9, 1.3, 2.2, 2.7, 3.6, 4.4, 5.3, 7.1, 9.7, 13.3, 18.9, 26.1,
                                          37.7, 49.3) for s in (-1.0, 1.0)])
#: Relative tolerance of the comparison; rounding in the difference quotient is allowed for on top of it, and
#: values below the floor (subnormal numbers, which carry few digits) count as 0.
_DERIVATIVE_RTOL = 1e-5
_DERIVATIVE_FLOOR = 1e-250
_EPS = float(np.finfo(np.float64).eps)


def _cause(exc):
    """The informative line of a numba error, past its "Failed in nopython mode pipeline" header."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    informative = [line for line in lines if not line.startswith(("Failed in", "During:", "File ", "^"))]
    return (informative or lines or [type(exc).__name__])[0]


def _compile(fn, what, argtypes, expected):
    """Compile ``fn`` for ``argtypes``, turning numba's failure into a one-line ValueError."""
    if not isinstance(fn, CPUDispatcher):
        raise ValueError(f"{what} must be a numba @njit function, got {type(fn).__name__}")
    # a sadbench.jit.compiled function that declares the signature compiles it when a run first needs it
    if tuple(argtypes) in (fn.declared if isinstance(fn, CachedDispatcher) else fn.signatures):
        return
    try:
        fn.compile(tuple(argtypes))
    except Exception as exc:  # numba raises many error types; all mean "cannot compile"
        raise ValueError(f"{what} does not compile for {expected}: {_cause(exc)}") from exc


def _compile_scalar(fn, what, nargs):
    _compile(fn, what, (types.float64,) * nargs, "float64")


def _check_derivative(fn, dfn, what, args_of):
    """Compare ``dfn`` with a central difference of ``fn`` at every probe point, relative to the size of the
    derivative plus the rounding error of the difference quotient (so derivatives that vanish in the tails,
    or a σ such as log(1 + e^x) that is exact only to eps there, pass, and a σ′ wrong only for |x| > 3 does
    not)."""
    for x in map(float, _PROBE_POINTS):
        h = _EPS ** (1.0 / 3.0) * max(1.0, abs(x))
        low, high, exact = fn(*args_of(x - h)), fn(*args_of(x + h)), dfn(*args_of(x))
        if not (math.isfinite(low) and math.isfinite(high) and math.isfinite(exact)):
            raise ValueError(f"{what} or the function it differentiates is not finite near {x}: "
                             f"{exact!r}, {low!r}, {high!r}")
        numeric = float((high - low) / (2.0 * h))
        rounding = 8.0 * _EPS * max(1.0, abs(low), abs(high)) / h  # σ itself carries errors of eps·max(1, |σ|)
        tolerance = _DERIVATIVE_RTOL * max(abs(exact), abs(numeric)) + rounding + _DERIVATIVE_FLOOR
        if not abs(numeric - exact) <= tolerance:
            raise ValueError(f"{what} disagrees with a finite difference at {x}: {exact!r} vs {numeric!r}")


def _check_name(name):
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name {name!r} is not a valid identifier")


@dataclass(frozen=True)
class Activation:
    """An activation σ with its derivatives, all numba-jitted scalar functions.

    ``d2f`` is needed for exact Hessians; ``smooth`` means C² everywhere; ``sad`` means in the SAD class
    (sublinear, analytic, definable); ``homogeneous`` means positively homogeneous of degree 1.
    """

    name: str
    f: Callable
    df: Callable
    d2f: Callable | None = None
    smooth: bool = True
    sad: bool = False
    homogeneous: bool = False
    description: str = ""

    kind = "activation"

    def check(self):
        _check_name(self.name)
        if self.df is None:
            raise ValueError(f"activation {self.name!r} has no derivative df")
        _compile_scalar(self.f, "f", 1)
        _compile_scalar(self.df, "df", 1)
        _check_derivative(self.f, self.df, "df", lambda x: (x,))
        if self.d2f is not None:
            _compile_scalar(self.d2f, "d2f", 1)
            _check_derivative(self.df, self.d2f, "d2f", lambda x: (x,))


@dataclass(frozen=True)
class Loss:
    """A per-output loss ``value(z, y)`` with jitted derivatives in ``z``; L averages it over points.

    ``labels`` is "real" for regression targets or "sign" for ±1 class labels.
    """

    name: str
    value: Callable
    d1: Callable
    d2: Callable
    labels: str = "real"
    description: str = ""

    kind = "loss"

    def check(self):
        _check_name(self.name)
        if self.labels not in ("real", "sign"):
            raise ValueError(f"labels must be 'real' or 'sign', got {self.labels!r}")
        for what in ("value", "d1", "d2"):
            _compile_scalar(getattr(self, what), what, 2)
        for y in (-1.0, 1.0) if self.labels == "sign" else (-1.0, 0.3, 1.0):
            _check_derivative(self.value, self.d1, "d1", lambda z: (z, y))
            _check_derivative(self.d1, self.d2, "d2", lambda z: (z, y))


def _keyword_parameters(fn, skip):
    """(names, required names) of ``fn``'s keyword parameters after the first ``skip``; names is None when
    it takes ``**kwargs``."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    named = [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    required = [p.name for p in named if p.default is p.empty]
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return None, required
    return [p.name for p in named], required


class _Parametrised:
    """Shared check of user-supplied keyword parameters against a builder's signature."""

    _skip = 1

    def parameter_names(self):
        return _keyword_parameters(self._builder(), self._skip)[0]

    def check_params(self, params):
        from sadbench.errors import UnknownNameError

        names, required = _keyword_parameters(self._builder(), self._skip)
        missing = [name for name in required if name not in params]
        if missing:
            raise SadbenchError(f"{self.kind} {self.name!r} needs parameter(s): {', '.join(missing)}")
        if names is None:
            return
        for key in params:
            if key not in names:
                raise UnknownNameError("parameter", key, names, owner=f"{self.kind} {self.name!r}")


@dataclass(frozen=True)
class Target(_Parametrised):
    """A data set: ``build(rng, **params) -> (X, Y)`` with X (n, d) and Y (n, k), float64."""

    name: str
    build: Callable
    description: str = ""

    kind = "target"

    def _builder(self):
        return self.build

    def check(self):
        _check_name(self.name)
        if not callable(self.build):
            raise ValueError("build must be callable")

    def __call__(self, seed=0, **params):
        self.check_params(params)
        X, Y = self.build(np.random.default_rng(seed), **params)
        X = np.ascontiguousarray(X, dtype=np.float64)
        Y = np.ascontiguousarray(Y, dtype=np.float64)
        if Y.ndim == 1:
            Y = Y[:, None]
        if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
            raise SadbenchError(
                f"target {self.name!r} returned X {X.shape} and Y {Y.shape}; need (n, d) and (n, k)"
            )
        return X, Y


@dataclass(frozen=True)
class Initialiser(_Parametrised):
    """Parameter initialisation: ``init(layers, rng, **params) -> theta`` (flat layout, float64)."""

    name: str
    init: Callable
    description: str = ""

    kind = "initialiser"
    _skip = 2

    def _builder(self):
        return self.init

    def check(self):
        _check_name(self.name)
        if not callable(self.init):
            raise ValueError("init must be callable")


@dataclass(frozen=True)
class Integrator:
    """An ODE method for θ' = -∇L(θ), run by sadbench's compiled driver.

    ``attempt`` is compiled with ``@njit(sadbench.signatures.ATTEMPT)``: it tries one step of size h and
    returns ``(err, n_grad, L_new)`` (see :mod:`sadbench.signatures`). It receives the problem's functions
    ``(rhs, hvp, hessian)`` as first-class functions, so it compiles once for every activation and loss.
    ``params`` (a float64 vector) is passed through unchanged; ``work_size(P)`` is the length of the
    member's own ``work`` vector. ``error_order`` (None for fixed-step methods) is the order of the
    embedded error estimate.

    **Stiff methods.** The flow's Jacobian is ``-∇²L``, symmetric: ``functions[1](prob, y, v, out)``
    writes ``∇²L(y)·v`` (about two gradients' cost) and ``functions[2](prob, y, H)`` the dense Hessian into
    a (P, P) C-contiguous view (about P Hessian-vector products). Only methods marked ``stiff`` or
    ``second_order`` receive them (the others get NaN in their place, so that a first-order run compiles no
    Hessian code); set ``second_order=True`` so that ``integrate`` refuses activations without σ″. Everything a method keeps between steps (a Jacobian, its
    factorisation or eigendecomposition, ages, a history) lives in ``work``, one vector per ensemble
    member that is kept across calls and stored with a run, so ensembles and resumed runs just work. The
    driver calls ``attempt`` again at the same ``t`` exactly when the previous attempt was rejected, so a
    method that remembers the ``t`` of its last attempt in ``work`` knows whether that step was accepted.
    :mod:`sadbench.solvers.jacobian` has the helpers (Hessian, eigendecomposition, solves with ``I + c·∇²L`` for any
    c in O(P²)); ``tests/test_stiff.py`` registers linearly implicit Euler as a plugin in a dozen lines.

    ``step_control`` is ``"pi"`` (the driver turns ``err`` into the next step with its PI controller) or
    ``"method"``: the attempt writes its proposed next step size into ``work[0]`` (a variable-order or
    stability-limited method); the driver still accepts the step iff ``err <= 1`` and clamps the proposal
    to ``[factor_min, factor_max]`` times the step. ``describe(work)``, if given, turns a member's ``work``
    into a dict of statistics (Jacobian evaluations, method switches) that ``integrate`` puts in the
    Solution's ``integrator_stats``.
    """

    name: str
    order: int
    attempt: Callable
    work_size: Callable[[int], int]
    params: np.ndarray = field(default_factory=lambda: np.zeros(0))
    error_order: int | None = None
    stiff: bool = False
    description: str = ""
    step_control: str = "pi"
    second_order: bool = False
    describe: Callable | None = None

    kind = "integrator"

    @property
    def adaptive(self):
        return self.error_order is not None

    def check(self):
        from sadbench.signatures import ATTEMPT

        _check_name(self.name)
        _compile(self.attempt, "attempt", ATTEMPT.args, "sadbench.signatures.ATTEMPT")
        if not (isinstance(self.params, np.ndarray) and self.params.dtype == np.float64 and self.params.ndim == 1):
            raise ValueError("params must be a 1-D float64 numpy array")
        if not int(self.work_size(10)) >= 0:
            raise ValueError("work_size(P) must return a non-negative integer")
        if self.step_control not in ("pi", "method"):
            raise ValueError(f"step_control must be 'pi' or 'method', got {self.step_control!r}")
        if self.step_control == "method" and not int(self.work_size(10)) >= 1:
            raise ValueError("step_control='method' needs work[0] for the proposed step: work_size(P) >= 1")
        if self.describe is not None and not callable(self.describe):
            raise ValueError("describe must be callable: describe(work) -> dict")


@dataclass(frozen=True)
class Detector(_Parametrised):
    """A detector: ``factory(**params)`` builds an object with

    - ``events() -> dict``: terminal thresholds the compiled loop enforces (``stop_norm_above``,
      ``stop_grad_below``), checked after every accepted step;
    - ``assess(trace) -> Finding | None``: a judgement read from the saved time series.
    """

    name: str
    factory: Callable
    description: str = ""

    kind = "detector"
    _skip = 0

    def _builder(self):
        return self.factory

    def check(self):
        _check_name(self.name)
        if not callable(self.factory):
            raise ValueError("factory must be callable")

    def __call__(self, **params):
        self.check_params(params)
        return self.factory(**params)


@dataclass(frozen=True)
class Finding:
    """What one detector concluded about one trajectory."""

    detector: str
    label: str  # converged | diverging | directional | failed | undecided | info
    time: float
    evidence: dict = field(default_factory=dict)
    limit_loss: float = float("nan")
    reason: str = ""


SPEC_TYPES = {cls.kind: cls for cls in (Activation, Loss, Target, Initialiser, Integrator, Detector)}
HOOK_OF_KIND = {
    "activation": "sadbench_register_activations",
    "loss": "sadbench_register_losses",
    "target": "sadbench_register_targets",
    "initialiser": "sadbench_register_initialisers",
    "integrator": "sadbench_register_integrators",
    "detector": "sadbench_register_detectors",
}
