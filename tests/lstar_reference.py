"""Independent references for the limit loss L* of the labelled families (docs/science.md §4, §6), computed
with plain numpy from the data, not with sadbench's own floor or premises."""

import numpy as np


def mse_floor(X, Y):
    """Mean within-group variance of the labels over groups of identical inputs (a dictionary of rows)."""
    groups = {}
    for x, y in zip(map(tuple, np.asarray(X)), np.asarray(Y).reshape(len(X), -1)):
        groups.setdefault(x, []).append(y)
    return sum(float(np.sum((np.array(ys) - np.mean(ys, axis=0)) ** 2)) for ys in groups.values()) / len(X)


def odd_floor(X, Y):
    """An odd network's floor on data in ± pairs: for each pair min_c (c − y1)² + (−c − y2)² = (y1 + y2)²/2;
    a point at 0 gets y²."""
    total, seen = 0.0, {}
    for x, y in zip(np.asarray(X)[:, 0], np.asarray(Y)[:, 0]):
        seen.setdefault(round(abs(x), 12), []).append((np.sign(x), y))
    for members in seen.values():
        if members[0][0] == 0:
            total += sum(y * y for _, y in members)
        else:
            assert len(members) == 2
            total += (members[0][1] + members[1][1]) ** 2 / 2.0
    return total / len(X)


def least_squares(X, Y, bias):
    """mse of the best affine (``bias``) or linear map: a deep linear network's limit."""
    A = np.hstack([X, np.ones((len(X), 1))]) if bias else np.asarray(X)
    coefficients = np.linalg.lstsq(A, Y, rcond=None)[0]
    return float(np.mean((A @ coefficients - Y) ** 2))


def logistic_pair_floor(X, Y, loss):
    """Points repeated with opposite labels: each such pair's best output is 0, costing 2·ℓ(0)."""
    keys = {}
    for x, y in zip(map(tuple, np.asarray(X)), np.asarray(Y)[:, 0]):
        keys.setdefault(x, set()).add(y)
    pairs = sum(1 for ys in keys.values() if len(ys) == 2)
    ell0 = np.log(2.0) if loss == "logistic" else 1.0
    return 2.0 * pairs * ell0 / len(X)


def reference_limit(case, X, Y, sol=None, member=0):
    """The theory's L* for a case of suites/ground_truth.yaml or suites/held_out.yaml, from its family."""
    label, params = case.label, case.params
    network = params["network"]
    if "deep linear" in label:
        if params["target"]["name"] == "twins":
            base = params["target"]["of"]
            delta = params["target"]["delta"]
            half = len(X) // 2
            return least_squares(X[:half], (Y[:half] + Y[half:]) / 2.0, network["bias"]) + delta**2
        return least_squares(X, Y, network["bias"])
    if label.startswith("odd"):
        return odd_floor(X, Y)
    if params["loss"] in ("logistic", "exponential"):
        return logistic_pair_floor(X, Y, params["loss"])
    return mse_floor(X, Y)
