"""Butcher tableaux: order conditions of every registered tableau (third-party ones included), the
validation done on construction, and the rooted-tree machinery behind ``order_residuals``.

The oracle for the order conditions is the explicit list of the 17 conditions up to order 5 (Hairer,
Nørsett, Wanner, *Solving ODEs I*, Table II.2.2), written out by hand below.
"""

import numpy as np
import pytest
from conftest import BUILTIN_ORDERS, explicit_rk_names, plugin_registry

import sadbench
from sadbench.solvers.tableau import attained_order, order_residuals, rooted_trees

REGISTRY = plugin_registry()
TABLEAU_METHODS = explicit_rk_names(REGISTRY)


def explicit_conditions(A, b):
    """{order: [(b·Φ, 1/γ), ...]} for orders 1..5, each condition written out by hand."""
    A, b = np.asarray(A), np.asarray(b)
    c = A.sum(axis=1)
    Ac, Ac2, Ac3 = A @ c, A @ c**2, A @ c**3
    return {
        1: [(b.sum(), 1.0)],
        2: [(b @ c, 1 / 2)],
        3: [(b @ c**2, 1 / 3), (b @ Ac, 1 / 6)],
        4: [(b @ c**3, 1 / 4), (b @ (c * Ac), 1 / 8), (b @ Ac2, 1 / 12), (b @ (A @ Ac), 1 / 24)],
        5: [
            (b @ c**4, 1 / 5),
            (b @ (c**2 * Ac), 1 / 10),
            (b @ (c * Ac2), 1 / 15),
            (b @ (c * (A @ Ac)), 1 / 30),
            (b @ Ac**2, 1 / 20),
            (b @ Ac3, 1 / 20),
            (b @ (A @ (c * Ac)), 1 / 40),
            (b @ (A @ Ac2), 1 / 60),
            (b @ (A @ (A @ Ac)), 1 / 120),
        ],
    }


def explicit_residuals(A, b):
    return [max(abs(lhs - rhs) for lhs, rhs in conds) for _, conds in sorted(explicit_conditions(A, b).items())]


def test_registry_holds_builtin_and_plugin_tableaux():
    assert set(BUILTIN_ORDERS) <= set(TABLEAU_METHODS)
    assert {"ralston3", "rk38", "heun_euler"} <= set(TABLEAU_METHODS)


@pytest.mark.parametrize("name", TABLEAU_METHODS)
def test_tableau_satisfies_its_order_conditions(name):
    method = REGISTRY.get("integrator", name)
    tab = method.tableau
    assert method.order == tab.order
    if name in BUILTIN_ORDERS:
        assert tab.order == BUILTIN_ORDERS[name]
    assert max(order_residuals(tab.A, tab.b, tab.order)) < 1e-13
    assert attained_order(tab.A, tab.b) == tab.order
    # Independently of the rooted-tree generator: the hand-written conditions hold up to the order...
    residuals = explicit_residuals(tab.A, tab.b)
    assert max(residuals[: min(tab.order, 5)]) < 1e-13
    # ...and some condition of the next order fails (the claimed order is the attained one).
    if tab.order < 5:
        assert residuals[tab.order] > 1e-6
    np.testing.assert_allclose(tab.A.sum(axis=1), tab.c, rtol=0, atol=1e-15)
    assert np.all(np.triu(tab.A) == 0)


@pytest.mark.parametrize("name", [n for n in TABLEAU_METHODS if REGISTRY.get("integrator", n).adaptive])
def test_embedded_weights_have_the_error_order(name):
    method = REGISTRY.get("integrator", name)
    tab = method.tableau
    assert method.error_order == tab.error_order
    assert 1 <= tab.error_order < tab.order
    assert attained_order(tab.A, tab.b_hat) == tab.error_order
    np.testing.assert_allclose(tab.error_weights.sum(), 0.0, atol=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_order_residuals_agree_with_the_explicit_conditions(seed):
    """Random strictly lower-triangular tableaux, so that no residual vanishes by accident."""
    rng = np.random.default_rng(seed)
    s = 6
    A = np.tril(rng.normal(size=(s, s)), k=-1)
    b = rng.normal(size=s)
    np.testing.assert_allclose(order_residuals(A, b, 5), explicit_residuals(A, b), rtol=1e-12)


@pytest.mark.parametrize("order, count", [(1, 1), (2, 1), (3, 2), (4, 4), (5, 9), (6, 20)])
def test_rooted_tree_counts(order, count):
    trees = rooted_trees(order)
    assert len(trees) == count
    assert len(set(trees)) == count

    def size(tree):
        return 1 + sum(size(child) for child in tree)

    assert all(size(t) == order for t in trees)


RK4 = dict(
    c=[0.0, 0.5, 0.5, 1.0],
    A=[[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]],
    b=[1 / 6, 1 / 3, 1 / 3, 1 / 6],
    order=4,
)


def rk4_with(*changes):
    """RK4's coefficients with ``(key, index, delta)`` added."""
    spec = {key: np.array(value, dtype=np.float64) if key != "order" else value for key, value in RK4.items()}
    for key, index, delta in changes:
        spec[key][index] += delta
    return spec


def test_unperturbed_rk4_is_accepted():
    tab = sadbench.ButcherTableau(**rk4_with())
    assert tab.stages == 4 and not tab.fsal
    np.testing.assert_array_equal(tab.error_weights, np.zeros(4))


@pytest.mark.parametrize(
    "changes, failing_order",
    [
        ([("b", 0, 1e-3)], 1),  # weights no longer sum to 1
        ([("b", 0, 1e-3), ("b", 1, -1e-3)], 2),  # sum kept, Σ b c broken
        ([("A", (3, 0), 1e-3), ("A", (3, 2), -1e-3)], 3),  # rows and c kept, Σ b A c broken
        ([("A", (2, 0), 1e-3), ("A", (2, 1), -1e-3)], 3),
        ([("A", (2, 1), 1e-3), ("c", 2, 1e-3)], 2),  # rows still sum to c, Σ b c broken
    ],
    ids=["b-sum", "b-order2", "A-last-row", "A-middle-row", "A-and-c"],
)
def test_perturbed_coefficient_is_rejected(changes, failing_order):
    spec = rk4_with(*changes)
    with pytest.raises(ValueError, match=rf"fails the order-{failing_order} conditions.*claimed order 4"):
        sadbench.ButcherTableau(**spec)
    # the rejected method really has the lower order
    assert attained_order(spec["A"], spec["b"]) == failing_order - 1


def test_embedded_weights_are_checked():
    good = dict(c=[0.0, 1.0], A=[[0.0, 0.0], [1.0, 0.0]], b=[0.5, 0.5], order=2)
    with pytest.raises(ValueError, match="b_hat fails the order-1 conditions"):
        sadbench.ButcherTableau(**good, b_hat=[1.0, 0.1], error_order=1)
    with pytest.raises(ValueError, match="b_hat and error_order go together"):
        sadbench.ButcherTableau(**good, b_hat=[1.0, 0.0])
    with pytest.raises(ValueError, match="b_hat and error_order go together"):
        sadbench.ButcherTableau(**good, error_order=1)


@pytest.mark.parametrize("position", [(0, 1), (1, 1), (0, 0), (2, 3)], ids=["upper", "diagonal", "first", "corner"])
def test_non_lower_triangular_A_is_rejected(position):
    # keep the rows summing to c so that only the triangularity is wrong
    spec = rk4_with(("A", position, 0.25), ("c", position[0], 0.25))
    with pytest.raises(ValueError, match="strictly lower triangular"):
        sadbench.ButcherTableau(**spec)


@pytest.mark.parametrize("row", [1, 2, 3])
def test_rows_not_summing_to_c_are_rejected(row):
    spec = rk4_with(("c", row, 0.1))
    with pytest.raises(ValueError, match="rows of A must sum to c"):
        sadbench.ButcherTableau(**spec)


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="shapes do not match"):
        sadbench.ButcherTableau(c=[0.0, 0.5], A=[[0.0]], b=[1.0], order=1)


def test_tableau_arrays_are_read_only():
    tab = sadbench.ButcherTableau(**rk4_with())
    with pytest.raises(ValueError):
        tab.A[1, 0] = 0.3
