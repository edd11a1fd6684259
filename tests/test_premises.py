"""The premises of a case (sadbench.verdicts.premises, floor, shapes) against references worked out by hand or
with plain numpy: data floors, polynomial degrees, linear independence, activation shapes, and which
theorems' premises hold for the families of docs/science.md §4."""

import math
from dataclasses import replace

import numpy as np
import pytest

import sadbench
from sadbench.verdicts.floor import data_floor, tie_groups
from sadbench.verdicts.premises import case_premises, expectation_warning
from sadbench.verdicts.shapes import activation_shape, polynomial_degree

REGISTRY = sadbench.get_registry()
MSE, LOGISTIC, EXPONENTIAL = (REGISTRY.get("loss", name) for name in ("mse", "logistic", "exponential"))
# The same loss as mse under another name, so that the generic 1-D minimisation runs instead of the closed form.
MSE_GENERIC = replace(MSE, name="mse_generic")


def test_mse_floor_is_the_mean_within_group_variance():
    X = np.array([[0.0], [0.0], [0.0], [1.0], [2.0], [2.0]])
    Y = np.array([1.0, 2.0, 6.0, 5.0, -1.0, 1.0])
    # by hand: group 0 has mean 3 and squares 4 + 1 + 9 = 14; group 2 has mean 0 and squares 1 + 1 = 2
    expected = (14.0 + 2.0) / 6
    for loss in (MSE, MSE_GENERIC):
        floor = data_floor(X, Y, loss)
        assert floor.value == pytest.approx(expected, rel=1e-12)
        assert (floor.groups, floor.contradictory, floor.unattained) == (3, 2, 0)


def test_label_noise_twins_have_floor_delta_squared():
    x = np.linspace(-1, 1, 9)[:, None]
    y = x[:, 0] ** 2 + 3.0
    for delta in (0.1, 0.37):
        X, Y = np.concatenate([x, x]), np.concatenate([y + delta, y - delta])
        assert data_floor(X, Y, MSE).value == pytest.approx(delta**2, rel=1e-12)
        assert data_floor(X, Y, MSE_GENERIC).value == pytest.approx(delta**2, rel=1e-9)


def test_logistic_and_exponential_floors_of_contradictory_points():
    """A pair at one input with labels ±1: the best constant output is 0, costing 2·ℓ(0); a point alone, or
    points of one sign, only approach 0 as the output goes to ±∞ (unattained)."""
    X = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [0.0, 1.0], [2.0, 0.5]])
    Y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, 1.0])
    # three tied points, two +1 and one -1: min_c 2·log(1+e^-c) + log(1+e^c) at e^c = 2, by hand
    logistic_min = 2 * math.log(1.5) + math.log(3.0)
    floor = data_floor(X, Y, LOGISTIC)
    assert floor.value == pytest.approx(logistic_min / 6, rel=1e-10)
    assert (floor.contradictory, floor.unattained) == (1, 3)
    # exponential: min_c 2e^-c + e^c at e^c = √2 gives 2√2
    assert data_floor(X, Y, EXPONENTIAL).value == pytest.approx(2 * math.sqrt(2) / 6, rel=1e-10)


def test_odd_networks_tie_x_with_minus_x():
    """N(-x) = -N(x): the pair (x, y1), (-x, y2) costs min_c (c - y1)² + (-c - y2)² = (y1 + y2)²/2 and a point at
    0 costs y²; on a symmetric grid whose points mirror each other only to an ulp."""
    X = np.linspace(-1, 1, 7)[:, None]
    Y = X[:, 0] ** 2 + 1.0
    by_hand = (sum((2 * y) ** 2 / 2 for y in Y[:3]) + Y[3] ** 2) / 7
    for loss in (MSE, MSE_GENERIC):
        assert data_floor(X, Y, loss, odd=True).value == pytest.approx(by_hand, rel=1e-9)
    grid = np.linspace(-1, 1, 16)
    assert np.max(np.abs(grid + grid[::-1])) > 0  # mirrored only to an ulp
    groups, signs = tie_groups(grid[:, None], odd=True)
    assert len(set(groups)) == 8 and sorted(signs) == [-1.0] * 8 + [1.0] * 8


def test_polynomial_degree_from_the_data():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (80, 1))
    assert polynomial_degree(x, 3 * x**2 - x + 2) == (2, 2)
    assert polynomial_degree(x, x**7 - 5 * x) == (7, 7)
    assert polynomial_degree(x, np.full_like(x, 4.0)) == (0, 0)
    # analytic but not polynomial: residuals shrink steadily with the degree, never off a cliff
    assert polynomial_degree(x, np.tanh(2 * x))[0] is None
    assert polynomial_degree(x, np.exp(x))[0] is None
    X2 = rng.uniform(-1, 1, (300, 2))
    assert polynomial_degree(X2, X2[:, :1] ** 3 * X2[:, 1:] - X2[:, 1:] ** 2)[0] == 4
    # too few points to test the degree: undetermined, not "no polynomial"
    assert polynomial_degree(x[:4], x[:4] ** 5) == (None, 2)


def test_activation_shapes_on_a_grid():
    shape = {name: activation_shape(REGISTRY.get("activation", name))
             for name in ("tanh", "softplus", "logistic", "gelu", "silu", "identity", "relu")}
    assert [name for name, s in shape.items() if s["increasing"]] == ["tanh", "softplus", "logistic", "identity"]
    assert [name for name, s in shape.items() if s["odd"]] == ["tanh", "identity"]
    assert [name for name, s in shape.items() if s["polynomial"]] == ["identity"]


def premises_of(widths, activation, X, Y, loss=MSE, bias=True):
    net = sadbench.Network(widths, activation, bias)
    return case_premises(net, np.asarray(X, float).reshape(len(X), -1), np.asarray(Y, float).reshape(len(X), -1),
                         loss)


def test_sad_premise_needs_more_points_than_parameters():
    x = np.linspace(-1, 1, 32)[:, None]
    holds = premises_of([1, 8, 1], "tanh", x, x**2)  # P = 25 < 32
    assert holds.premises["sad"].holds == "yes" and holds.positive_excess
    doubtful = premises_of([1, 16, 1], "tanh", x, x**2)  # P = 49 ≥ 32
    assert doubtful.premises["sad"].holds == "doubtful" and not doubtful.positive_excess
    assert "P = 49" in " ".join(doubtful.premises["sad"].failing)
    assert premises_of([1, 8, 1], "tanh", x, 3 * x + 1).premises["sad"].holds == "no"  # degree 1
    assert premises_of([1, 8, 1], "identity", x, x**2).premises["sad"].holds == "no"  # polynomial activation
    assert premises_of([1, 8, 1], "tanh", x, x**2, bias=False).premises["sad"].holds == "no"


def test_twins_keep_the_premises_of_their_original():
    x = np.linspace(-1, 1, 20)[:, None]
    twins = premises_of([1, 4, 1], "tanh", np.concatenate([x, x]), np.concatenate([x**2 + 0.1, x**2 - 0.1]))
    assert twins.premises["sad"].holds == "yes" and twins.premises["sad"].numbers["n_distinct"] == 20
    assert twins.floor.value == pytest.approx(0.01)


def test_chatterjee_premise_checks_independence_and_the_activation():
    X = np.random.default_rng(1).normal(size=(6, 10))
    Y = np.ones(6)
    assert premises_of([10, 8, 1], "softplus", X, Y).premises["chatterjee"].holds == "yes"
    assert premises_of([10, 8, 1], "gelu", X, Y).premises["chatterjee"].holds == "no"
    dependent = X.copy()
    dependent[5] = dependent[0] + dependent[1]
    chatterjee = premises_of([10, 8, 1], "tanh", dependent, Y).premises["chatterjee"]
    assert chatterjee.holds == "no" and chatterjee.numbers["rank"] == 5


def test_classification_premises():
    X = np.array([[1.0, 0.2], [-1.0, 0.3], [0.5, -1.0], [-0.4, 1.0]])
    Y = np.sign(X[:, 0])
    linear = premises_of([2, 1], "identity", X, Y, LOGISTIC)
    assert linear.holds("ji_telgarsky") and linear.holds("unattained") and linear.floor.value == 0.0
    assert not premises_of([2, 3, 1], "tanh", X, Y, LOGISTIC, bias=False).holds("ji_telgarsky")
    assert premises_of([2, 3, 1], "relu", X, Y, LOGISTIC, bias=False).holds("ji_telgarsky")
    contradictory = premises_of([2, 1], "identity", np.vstack([X, X[:1]]), np.append(Y, -Y[0]), LOGISTIC)
    assert not contradictory.holds("ji_telgarsky") and contradictory.holds("unattained")


def test_expect_labels_resting_on_no_premise_are_warned_about():
    x = np.linspace(-1, 1, 16)[:, None]
    assert "P = 49" in expectation_warning("diverging", premises_of([1, 16, 1], "tanh", x, x**2))
    assert expectation_warning("diverging", premises_of([1, 4, 1], "tanh", x, x**2)) == ""
    assert expectation_warning("converged", premises_of([1, 16, 1], "tanh", x, x**2)) == ""
