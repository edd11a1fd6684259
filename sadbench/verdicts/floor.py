"""The data floor: the loss no network can go below, computed exactly from the data (docs/science.md §6).

Points with identical inputs get identical outputs from any network, so their labels compete: the best any
network can do on such a group is the best constant output. With an odd network (an odd activation and no
biases, N(-x) = -N(x)) the points x and -x are tied the same way, with outputs c and -c. The floor is the mean
over points of each group's minimum, found by a 1-D convex minimisation with the loss's own first and second
derivatives, so it holds for every convex loss plugin. For mse it is the mean within-group variance of the
labels. A group whose infimum has no finite minimiser (logistic labels of one sign: the loss only tends to
its infimum as the output tends to infinity) is *unattained*: then L > floor at every θ, and L → floor forces
an output, hence ||θ||, to infinity.
"""

import math
from dataclasses import dataclass

import numpy as np

# |c| beyond which a group's minimiser counts as at infinity (times 1 + max|y|): a minimiser of a sum of
# per-point losses sits within a few times the labels or log(n) of 0, and the slopes of logistic and
# exponential losses underflow to 0 near |c| = 745, which must not pass for a minimum.
_AT_INFINITY = 256.0
_MAX_ITERATIONS = 200


@dataclass(frozen=True)
class DataFloor:
    """The floor and how it arises: ``value`` (a lower bound on L(θ) for every θ), the number of ``groups``
    of tied points, how many of them have labels that disagree (``contradictory``), and how many have an
    infimum with no finite minimiser (``unattained``). ``odd`` says whether x and -x were tied."""

    value: float
    points: int
    groups: int
    contradictory: int
    unattained: int
    odd: bool

    def to_dict(self):
        return {"value": self.value, "points": self.points, "groups": self.groups,
                "contradictory_groups": self.contradictory, "unattained_groups": self.unattained, "odd": self.odd}


def tie_groups(X, odd=False):
    """(group index per point, sign per point): points with equal inputs share a group with sign +1; with
    ``odd``, x and -x share one too (sign -1 for the second), and x = 0 gets sign 0 (an odd network gives 0).

    For the odd pairing, inputs are compared after rounding to 1e-12 of their largest magnitude: a symmetric
    grid such as ``linspace(-1, 1, 16)`` has x_i = -x_(n-1-i) only to an ulp, and an odd network's outputs at
    such points differ by that much, far below anything the floor is used for."""
    X = np.asarray(X, dtype=np.float64)
    signs = np.ones(len(X))
    keys = X.copy()
    if odd:
        quantum = 1e-12 * max(1.0, float(np.max(np.abs(X))))
        keys = np.round(X / quantum)
        nonzero = keys != 0
        first = np.where(nonzero.any(axis=1), nonzero.argmax(axis=1), 0)
        signs = np.sign(keys[np.arange(len(X)), first])
        keys = keys * np.where(signs == 0, 1.0, signs)[:, None]
    _, groups = np.unique(keys, axis=0, return_inverse=True)
    return groups.ravel(), signs


def _group_minimum(loss, y, s):
    """(min over c of Σ_i loss(s_i·c, y_i), attained) for one group and one output; convex in c."""
    if not np.any(s):
        return float(sum(loss.value(0.0, v) for v in y)), True
    tied = [(float(a), float(b)) for a, b in zip(s, y) if a != 0]
    fixed = sum(loss.value(0.0, v) for a, v in zip(s, y) if a == 0)

    def value(c):
        return fixed + sum(loss.value(a * c, v) for a, v in tied)

    def slope(c):
        return sum(a * loss.d1(a * c, v) for a, v in tied)

    def curvature(c):
        return sum(a * a * loss.d2(a * c, v) for a, v in tied)

    g0 = slope(0.0)
    if g0 == 0.0:
        return value(0.0), True
    direction = -math.copysign(1.0, g0)
    limit = _AT_INFINITY * (1.0 + float(np.max(np.abs(y))))
    lo, hi = 0.0, 1.0
    while slope(direction * hi) * direction < 0.0:
        lo, hi = hi, 2.0 * hi
        if hi > limit:
            return value(direction * 4.0 * limit), False
    # the minimiser is in direction·[lo, hi]: safeguarded Newton on the slope
    a, b = sorted((direction * lo, direction * hi))
    c = 0.5 * (a + b)
    for _ in range(_MAX_ITERATIONS):
        g = slope(c)
        if g == 0.0:
            break
        if g > 0.0:
            b = c
        else:
            a = c
        h = curvature(c)
        step = c - g / h if h > 0.0 else math.nan
        c_new = step if a < step < b else 0.5 * (a + b)
        if abs(c_new - c) <= 4e-16 * max(1.0, abs(c)):
            c = c_new
            break
        c = c_new
    return value(c), True


def _mse_minima(groups, signs, Y):
    """Σ over groups of min_c Σ_i (s_i·c − y_i)², in closed form: the residuals about the group's mean of
    s_i·y_i (over its points with s_i ≠ 0; a point with s_i = 0 keeps y_i²)."""
    weight = np.bincount(groups, weights=signs**2)
    total = 0.0
    for k in range(Y.shape[1]):
        y = Y[:, k]
        mean = np.bincount(groups, weights=signs * y) / np.where(weight > 0, weight, 1.0)
        total += float(np.sum((y - signs * mean[groups]) ** 2))
    return total


def _split(groups):
    """The point indices of each group, as a list of arrays."""
    order = np.argsort(groups, kind="stable")
    return np.split(order, np.flatnonzero(np.diff(groups[order])) + 1)


def _competes(members, signs, Y):
    """Whether the tied points of one group pull its output different ways."""
    if len(members) < 2:
        return False
    pulls = signs[members, None] * Y[members]
    return bool(np.any(signs[members] == 0) or np.any(np.ptp(pulls, axis=0) > 0))


def data_floor(X, Y, loss, odd=False):
    """The :class:`DataFloor` of data (X, Y) under ``loss`` (a :class:`~sadbench.Loss`), for networks that
    are ``odd`` or not. mse has a closed form; any other loss is minimised group by group."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(X), -1)
    groups, signs = tie_groups(X, odd)
    split = _split(groups)
    contradictory = sum(_competes(members, signs, Y) for members in split)
    if loss.name == "mse":
        total, unattained = _mse_minima(groups, signs, Y), 0
    else:
        total, unattained, memo = 0.0, 0, {}
        for members in split:
            missed = False
            for k in range(Y.shape[1]):
                key = (tuple(signs[members]), tuple(Y[members, k]))
                if key not in memo:
                    memo[key] = _group_minimum(loss, Y[members, k], signs[members])
                total += memo[key][0]
                missed |= not memo[key][1]
            unattained += int(missed)
    return DataFloor(value=total / len(X), points=len(X), groups=len(split), contradictory=int(contradictory),
                     unattained=unattained, odd=bool(odd))
