"""A suite's cost before it runs: seconds per gradient times the gradients a flow needs (docs/cost-model.md).

Every stiff flow's work is counted in gradient evaluations. sadbench's BDF (integrators "bdf" and "auto")
spends gradients on its steps and Newton iterations and one more per Hessian-vector product (a forward
difference of gradients, :mod:`sadbench.solvers.products`); the Lanczos Jacobian needs no Hessian and no
P³ factorisation, so counting gradients counts nearly all the time. A gradient costs
n·(a·MACs + b·H) (MACs = Σ fan_in·fan_out multiply-adds per point, H hidden units), fitted per activation.
How many gradients a flow needs up to t was measured decade by decade on the SAD paper's flows at rtol 1e-6
(``benchmarks/cost_model.py flows``); other networks borrow the counts of the closest P, other tolerances
scale them by (rtol/1e-6)^TOLERANCE_EXPONENT, and decades past the table's last grow geometrically at its
last decade-to-decade ratio.
Explicit integrators' step counts follow the flow's stiffness, which is unknown before it runs: their cases
are listed as not estimated. Members that a detector stops early cost less: the estimate is an upper bound.
"""

import math
from dataclasses import dataclass

import numpy as np

from sadbench.suites.inputs import case_data

#: seconds per gradient per data point = a·MACs + b·H, one thread
#: (``benchmarks/cost_model.py kernels``; activations not listed take GELU's).
GRADIENT_FIT = {"gelu": (1.043e-10, 2.741e-09), "tanh": (9.374e-11, 2.336e-09)}
#: measured CPU seconds of whole flows over (gradient equivalents × fitted seconds per gradient)
OVERHEAD = 1.0
#: P: cumulative gradient equivalents (gradients + Hessian-vector products) at t = 1e0, 1e1, ..., 1e7 of
#: the SAD 1D, 2D and 4D GELU flows (10 000 points, Xavier-uniform seed 0, "auto", rtol 1e-6, atol 1e-8;
#: ``benchmarks/cost_model.py flows``); the 4D flow was measured to 1e6.
STIFF_WORK = {461: [322, 738, 1248, 1759, 2463, 3769, 8582, 14700],
              1741: [289, 624, 1203, 1741, 2760, 4730, 9673, 19441],
              1781: [309, 580, 1156, 2746, 7443, 19985, 69193]}  # stopped at 1e6 (docs/cost-model.md)
MEASURED_RTOL = 1e-6
TOLERANCE_EXPONENT = -1 / 12
STIFF = ("bdf", "auto")


def multiply_adds(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def gradient_seconds(widths, n, activation="gelu"):
    """Seconds of one full-batch gradient of the network ``widths`` on ``n`` points."""
    a, b = GRADIENT_FIT.get(activation, GRADIENT_FIT["gelu"])
    return n * (a * multiply_adds(widths) + b * sum(widths[1:-1]))


def parameters(widths, bias=True):
    return sum((a + bias) * b for a, b in zip(widths[:-1], widths[1:]))


def stiff_gradients(P, horizon, rtol=MEASURED_RTOL):
    """Gradient equivalents of one stiff flow with P parameters from t = 0 to ``horizon``."""
    work = STIFF_WORK[min(STIFF_WORK, key=lambda p: abs(math.log(p / P)))]
    decade = math.log10(max(horizon, 1.0))
    last = len(work) - 1
    if decade > last:  # each further decade costs the one before times the table's last growth
        latest = work[last] - work[last - 1]
        growth = latest / (work[last - 1] - work[last - 2])
        extra = decade - last
        count = work[last] + latest * (growth * (growth ** extra - 1) / (growth - 1) if growth != 1 else extra)
    else:
        count = np.interp(decade, np.arange(len(work)), work)
    return float(count) * (rtol / MEASURED_RTOL) ** TOLERANCE_EXPONENT


@dataclass(frozen=True)
class Estimate:
    """CPU seconds of the estimated cases, and the labels of those the model does not cover."""

    seconds: float
    runs: int
    cores: int
    not_estimated: tuple

    @property
    def wall(self):
        return self.seconds / self.cores


def estimate_case(case, registry, base="."):
    """CPU seconds of every member of ``case`` (a loaded suite's Case) to its horizon; None if not covered."""
    params = case.params
    integrator = params["integrator"]
    if integrator["name"] not in STIFF or params["loss"] != "mse":
        return None
    widths = params["network"]["widths"]
    X, _ = case_data(params["target"], registry, base)
    P = parameters(widths, params["network"].get("bias", True))
    gradients = stiff_gradients(P, params["horizon"], integrator.get("rtol", MEASURED_RTOL))
    one = gradients * gradient_seconds(widths, len(X), params["network"].get("activation", "gelu")) * OVERHEAD
    return one * len(case.seeds)


def estimate_suite(suite, cores=2):
    """An :class:`Estimate` of ``suite`` (from :func:`sadbench.suites.suite.load_suite`) on ``cores`` cores."""
    base = suite.path.parent
    seconds, runs, missing = 0.0, 0, []
    for case in suite.cases:
        one = estimate_case(case, suite.registry, base)
        if one is None:
            missing.append(case.label)
        else:
            seconds, runs = seconds + one, runs + len(case.seeds)
    return Estimate(seconds, runs, cores, tuple(missing))


def _duration(seconds):
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} s"


def describe(estimate):
    """One line for ``sadbench validate``."""
    uncovered = (f"not estimated: {len(estimate.not_estimated)} cases whose integrator is not "
                 f"{' or '.join(STIFF)} or whose loss is not mse")
    if not estimate.runs:
        return f"estimated cost (docs/cost-model.md): {uncovered}"
    text = (f"estimated cost (docs/cost-model.md): {_duration(estimate.seconds)} CPU for {estimate.runs} runs, "
            f"about {_duration(estimate.wall)} on {estimate.cores} cores")
    return f"{text}; {uncovered}" if estimate.not_estimated else text
