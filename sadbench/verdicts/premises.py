"""Which theorems apply to a case, computed from the case itself: the activation's shape, the data X and Y,
the architecture and the loss (docs/science.md §2, §4, §6). Never from a case's name or seed.

Each :class:`Premise` says whether its theorem's premises hold ("yes", "no" or "doubtful"), with the reasons
and the numbers they rest on. The verdicts use them as grounds: under Thm 3.4's premises L > floor at every
θ, so a flow whose L tends to the floor cannot converge; a deep linear network's trajectory is bounded, so it
cannot diverge; Chatterjee's certificate and Ji–Telgarsky's alignment apply only where their premises hold.
"""

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np

from sadbench.verdicts.floor import data_floor
from sadbench.verdicts.shapes import MAX_DEGREE, activation_shape, polynomial_degree

YES, NO, DOUBTFUL = "yes", "no", "doubtful"


@dataclass(frozen=True)
class Premise:
    """Whether one theorem's premises hold for a case (``holds``: yes, no or doubtful), ``why`` in words and
    the ``numbers`` behind it; ``theorem`` names the statement (docs/science.md)."""

    name: str
    theorem: str
    holds: str
    why: tuple
    numbers: dict = field(default_factory=dict)
    failing: tuple = ()  # the reasons among ``why`` that fail or are doubtful

    def to_dict(self):
        return {"theorem": self.theorem, "holds": self.holds, "why": list(self.why), "numbers": dict(self.numbers),
                "failing": list(self.failing)}

    def text(self):
        return f"{self.name} ({self.theorem}): {self.holds} — {'; '.join(self.why)}"


def _premise(name, theorem, checks, numbers=None):
    """The Premise from (ok, doubtful, reason) triples: no if any fails, doubtful if any is doubtful."""
    holds = YES
    for ok, doubtful, _ in checks:
        if not ok:
            holds = NO
        elif doubtful and holds == YES:
            holds = DOUBTFUL
    return Premise(name, theorem, holds, tuple(reason for _, _, reason in checks), dict(numbers or {}),
                   tuple(reason for ok, doubtful, reason in checks if not ok or doubtful))


def _group_means(X, Y):
    """The distinct inputs and the mean label of each: the data a network can actually be fitted to."""
    unique, inverse = np.unique(np.asarray(X, dtype=np.float64), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    counts = np.bincount(inverse)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    means = np.stack([np.bincount(inverse, weights=Y[:, k]) / counts for k in range(Y.shape[1])], axis=1)
    return unique, means


_DEGREES = {}  # data digest -> polynomial_degree(...): the fits cost seconds for 4-D data, once per data set


def _labels_degree(unique, means):
    key = hashlib.sha256(unique.tobytes() + means.tobytes()).hexdigest()
    if key not in _DEGREES:
        if len(_DEGREES) > 256:
            _DEGREES.clear()
        _DEGREES[key] = polynomial_degree(unique, means)
    return _DEGREES[key]


def sad_premise(net, shape, loss, X, Y):
    """Thms 3.4/3.5 (docs/science.md §2): a non-polynomial SAD activation in a network with biases (the
    architecture of the theorems: a bias-free odd network on even data reaches its floor at N = 0), mse,
    labels that are a polynomial of degree ≥ 2 (the means over tied points: what a network can be fitted to),
    and more distinct data points than parameters (else the network can typically interpolate and L > floor
    everywhere is doubtful)."""
    unique, means = _group_means(X, Y)
    P, n = net.num_params, len(unique)
    degree, tested = _labels_degree(unique, means) if loss.labels == "real" else (None, -1)
    numbers = {"n_distinct": n, "P": P, "degree": degree, "max_degree_tested": tested}
    undetermined = degree is None and 0 <= tested < MAX_DEGREE
    degree_text = (f"the labels are exactly a polynomial of degree {degree}" if degree is not None else
                   f"the labels fit no polynomial of degree ≤ {tested} exactly" + (
                       " (higher degrees need more distinct points)" if undetermined else "")
                   if tested >= 0 else "class labels, not a polynomial target")
    checks = [
        (net.activation.sad and not shape["polynomial"], False,
         f"activation {net.activation.name} is {'' if net.activation.sad else 'not '}SAD"
         + (" but polynomial" if shape["polynomial"] else "")),
        (net.bias, False, "the network has biases" if net.bias else "the network has no biases"),
        (loss.name == "mse", False, f"loss {loss.name}" + ("" if loss.name == "mse" else ", not mse")),
        ((degree is not None and degree >= 2) or undetermined, undetermined, degree_text),
        (True, n <= P, f"n = {n} distinct points {'≤' if n <= P else '>'} P = {P} parameters"
         + (": the network can typically interpolate, so L > 0 everywhere is doubtful" if n <= P else "")),
    ]
    return _premise("sad", "Thm 3.4: L > floor at every θ, inf L = floor", checks, numbers)


def chatterjee_premise(net, shape, X):
    """Chatterjee's criterion (docs/science.md §2): a smooth strictly increasing activation and linearly
    independent inputs, d ≥ n; the certificate itself is evaluated per initial point by its detector."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    rank = int(np.linalg.matrix_rank(X)) if n <= d else min(n, d)
    checks = [
        (net.activation.smooth and shape["increasing"], False,
         f"activation {net.activation.name} is {'' if shape['increasing'] else 'not '}strictly increasing"),
        (d >= n, False, f"d = {d} {'≥' if d >= n else '<'} n = {n}"),
        (rank == n, False, f"the inputs are {'' if rank == n else 'not '}linearly independent (rank {rank})"),
    ]
    return _premise("chatterjee", "Chatterjee's criterion: 4·L(θ0) < r²·α ⇒ converges, L → 0", checks,
                    {"n": n, "d": d, "rank": rank})


def homogeneous_degree(net):
    """The degree D of positive homogeneity of θ ↦ N_θ(x), or None: a linear model (one layer, its bias acting
    on a constant input) has D = 1, a bias-free network with a homogeneous activation D = its depth."""
    if len(net.layers) == 1:
        return 1
    return len(net.layers) if net.activation.homogeneous and not net.bias else None


def ji_telgarsky_premise(net, loss, floor):
    """Ji–Telgarsky (docs/science.md §2): a homogeneous network, an exponentially tailed classification loss,
    and data that every point can be classified on (no tied points with opposite labels). Whether the flow
    classifies all points is read off the trajectory."""
    degree = homogeneous_degree(net)
    checks = [
        (degree is not None, False, f"the network is {'' if degree else 'not '}homogeneous in θ"
         + (f" (degree {degree})" if degree else "")),
        (loss.labels == "sign", False, f"loss {loss.name} is {'' if loss.labels == 'sign' else 'not '}a "
                                       "classification loss"),
        (floor.contradictory == 0, False, f"{floor.contradictory} groups of tied points with opposite labels"),
    ]
    return _premise("ji_telgarsky", "Ji–Telgarsky: θ/||θ|| converges once every point is classified", checks,
                    {"degree": degree})


def unattained_premise(floor):
    """docs/science.md §6: a group whose loss has no finite minimiser keeps L > floor at every θ."""
    why = (f"{floor.unattained} groups of points whose loss only tends to its infimum as the output tends to "
           "±∞" if floor.unattained else "every group's loss has a finite minimiser")
    return _premise("unattained", "L > floor at every θ; L → floor forces ||θ|| → ∞",
                    [(floor.unattained > 0, False, why)], {"groups": floor.unattained})


def bounded_premise(net, shape, loss):
    """Deep linear networks (docs/science.md §4) with mse: the conservation laws of linear layers keep the
    trajectory bounded, and a bounded analytic flow converges (Łojasiewicz)."""
    checks = [
        (shape["affine"], False, f"activation {net.activation.name} is {'' if shape['affine'] else 'not '}affine"),
        (loss.name == "mse", False, f"loss {loss.name}" + ("" if loss.name == "mse" else ", not mse")),
    ]
    return _premise("bounded", "deep linear networks: bounded trajectory ⇒ converges", checks)


@dataclass(frozen=True)
class CasePremises:
    """Everything the verdicts need to know about a case before looking at a trajectory."""

    floor: object  # sadbench.verdicts.floor.DataFloor
    premises: dict  # name -> Premise

    def holds(self, name):
        return self.premises[name].holds == YES

    @property
    def positive_excess(self):
        """L > floor at every θ: a flow with L → floor has no finite limit."""
        return self.holds("sad") or self.holds("unattained")

    def to_dict(self):
        return {"data_floor": self.floor.to_dict(), **{k: p.to_dict() for k, p in self.premises.items()}}

    def lines(self):
        return [f"data floor: {self.floor.value:.6g} ({self.floor.groups} groups of {self.floor.points} points, "
                f"{self.floor.contradictory} contradictory)"] + [p.text() for p in self.premises.values()]


def expectation_warning(expect, premises):
    """Why an ``expect:`` label rests on no premise that holds, or "": "diverging" needs Thm 3.4's premises
    or an unattained floor, "directional" Ji–Telgarsky's (other arguments may still hold: say them)."""
    needs = {"diverging": ("sad", "unattained"), "directional": ("ji_telgarsky",)}.get(expect, ())
    if not needs or any(premises.holds(name) for name in needs):
        return ""
    failing = "; ".join(f"{name} {premises.premises[name].holds} ({', '.join(premises.premises[name].failing)})"
                        for name in needs)
    return f"expect: {expect} rests on no theorem whose premises hold here: {failing}"


def case_premises(net, X, Y, loss):
    """The :class:`CasePremises` of network ``net`` on data (X, Y) under ``loss`` (a Loss spec)."""
    shape = activation_shape(net.activation)
    odd = shape["odd"] and not net.bias
    floor = data_floor(X, Y, loss, odd=odd)
    premises = {
        "sad": sad_premise(net, shape, loss, X, Y),
        "unattained": unattained_premise(floor),
        "chatterjee": chatterjee_premise(net, shape, X),
        "ji_telgarsky": ji_telgarsky_premise(net, loss, floor),
        "bounded": bounded_premise(net, shape, loss),
    }
    if not math.isfinite(floor.value):
        raise ValueError(f"the data floor is not finite: {floor}")
    return CasePremises(floor, premises)
