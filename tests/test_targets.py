"""The built-in targets: exact formulas, safe parsing, sampling, teacher labels, separability, data files."""

import numpy as np
import pytest
from scipy.optimize import minimize

import sadbench
from sadbench import SadbenchError, UnknownNameError


def target(name):
    return sadbench.get_registry().get("target", name)


def sad1d(x):
    return x**10 - 2 * x**8 + 2 * x**5 + 3 * x**3 - 2 * x**2 + 5


def sad2d(x1, x2):
    return x2**5 - x1**3 * x2**2 - 4 * x1**2 * x2 + 3 * x1**3 - x2**2 + x1 + 2


def sad4d(x1, x2, x3, x4):
    return (x1**6 * x4**5 + x2**6 - x1**3 * x2**2 * x3 + x4**2 - 4 * x3**4 * x2**4 + 3 * x4**3 * x2**3
            - x3**2 * x1 + x3 + 3)


@pytest.mark.parametrize("preset, formula, d", [("sad1d", sad1d, 1), ("sad2d", sad2d, 2), ("sad4d", sad4d, 4)])
def test_presets_match_the_paper_formulas(preset, formula, d):
    X, Y = target("polynomial")(seed=3, preset=preset, n=200)
    assert X.shape == (200, d) and Y.shape == (200, 1)
    assert X.min() >= -1.0 and X.max() <= 1.0 and X.std() > 0.4
    np.testing.assert_allclose(Y[:, 0], formula(*X.T), rtol=1e-13, atol=1e-13)


def test_registry_lookup_with_seed():
    X, Y = sadbench.get_registry().get("target", "polynomial")(seed=0, preset="sad1d", n=100)
    assert X.shape == (100, 1) and Y.shape == (100, 1)
    assert X.dtype == Y.dtype == np.float64


@pytest.mark.parametrize(
    "expr, d, numpy_form",
    [
        ("x^3 - 2*x + 1", 1, lambda x: x**3 - 2 * x + 1),
        ("x1**2 * x2 - (x2 - 0.5)^2 + -3", 2, lambda x1, x2: x1**2 * x2 - (x2 - 0.5) ** 2 - 3),
        ("2.5*x3^4 - x1", 3, lambda x1, x2, x3: 2.5 * x3**4 - x1),
        ("x1*x1 - x^2 + x1", 1, lambda x: x),
    ],
)
def test_expression_equals_numpy(expr, d, numpy_form):
    X, Y = target("polynomial")(seed=1, expr=expr, n=50)
    assert X.shape == (50, d)
    np.testing.assert_allclose(Y[:, 0], numpy_form(*X.T), rtol=1e-13, atol=1e-13)


def test_constant_expression_and_explicit_d():
    X, Y = target("polynomial")(expr="7", d=3, n=5)
    assert X.shape == (5, 3)
    np.testing.assert_array_equal(Y, np.full((5, 1), 7.0))


@pytest.mark.parametrize(
    "expr, message",
    [
        ("__import__('os')", "Call is not allowed"),
        ("x1.real", "Attribute is not allowed"),
        ("().__class__", "Attribute is not allowed"),
        ("x1[0]", "Subscript is not allowed"),
        ("y + 1", "name 'y' is not allowed"),
        ("x0 + 1", "name 'x0' is not allowed"),
        ("x / 2", "Div is not allowed"),
        ("x^-1", "non-negative integer"),
        ("x^0.5", "non-negative integer"),
        ("x^(1+1)", "non-negative integer"),
        ("x +* 2", "not a valid expression"),
    ],
)
def test_unsafe_or_invalid_expressions_are_rejected(expr, message):
    with pytest.raises(SadbenchError, match=message.replace("(", r"\(").replace("^", r"\^")):
        target("polynomial")(expr=expr)


@pytest.mark.parametrize(
    "params, message",
    [
        (dict(), "exactly one of expr or preset"),
        (dict(expr="x", preset="sad1d"), "exactly one of expr or preset"),
        (dict(preset="sad3d"), "preset must be one of sad1d, sad2d, sad4d"),
        (dict(preset="sad2d", d=3), "d=3"),
        (dict(expr="x3", d=2), "d=2"),
        (dict(expr="x + x2"), "plain x is only allowed when d == 1"),
        (dict(expr="x", n=0), "n must be a positive integer"),
        (dict(expr="x", sampling="sobol"), "sampling must be"),
        (dict(expr="x", box=(1.0, -1.0)), "box must satisfy lo < hi"),
    ],
)
def test_bad_polynomial_parameters(params, message):
    with pytest.raises(SadbenchError, match=message):
        target("polynomial")(**params)


def test_grid_1d_includes_both_ends():
    X, Y = target("polynomial")(expr="x^2", n=11, sampling="grid", box=(-2.0, 3.0))
    np.testing.assert_allclose(X[:, 0], np.linspace(-2.0, 3.0, 11))
    np.testing.assert_allclose(Y[:, 0], X[:, 0] ** 2)


def test_grid_tensor_product():
    X, _ = target("polynomial")(preset="sad2d", n=16, sampling="grid")
    assert X.shape == (16, 2)
    axis = np.linspace(-1.0, 1.0, 4)
    assert {tuple(row) for row in X} == {(a, b) for a in axis for b in axis}


def test_grid_needs_a_power_of_d():
    with pytest.raises(SadbenchError, match=r"n=10 .*d=2"):
        target("polynomial")(preset="sad2d", n=10, sampling="grid")


def test_teacher_labels_are_the_network_outputs():
    params = dict(widths=(2, 5, 3), activation="gelu", n=40, box=(-2.0, 2.0))
    X, Y = target("teacher")(seed=4, **params)
    assert X.shape == (40, 2) and Y.shape == (40, 3)
    assert np.abs(X).max() <= 2.0
    net = sadbench.Network(params["widths"], activation="gelu")
    # the teacher draws X from the seeded generator, then the network's seed
    rng = np.random.default_rng(4)
    np.testing.assert_array_equal(X, rng.uniform(-2.0, 2.0, size=(40, 2)))
    theta = net.init(seed=int(rng.integers(2**32)), scheme="normal")
    np.testing.assert_array_equal(Y, net.forward(theta, X))
    assert Y.std() > 0  # not a constant network


def test_teacher_on_grid_without_bias():
    X, Y = target("teacher")(widths=(1, 4, 1), bias=False, n=9, sampling="grid")
    np.testing.assert_allclose(X[:, 0], np.linspace(-1.0, 1.0, 9))
    np.testing.assert_allclose(Y[4], 0.0, atol=1e-15)  # a bias-free tanh net maps 0 to 0


def hard_margin(X, y):
    """Geometric margin of the hard-margin SVM: max over (w, b) of min_i y_i (w·x_i + b) / ||w||."""
    d = X.shape[1]
    constraint = {"type": "ineq", "fun": lambda v: y * (X @ v[:d] + v[d]) - 1.0}
    result = minimize(lambda v: v[:d] @ v[:d], np.zeros(d + 1), constraints=[constraint], method="SLSQP",
                      options={"ftol": 1e-12, "maxiter": 500})
    assert result.success, result.message
    assert np.all(y * (X @ result.x[:d] + result.x[d]) >= 1.0 - 1e-6)
    return 1.0 / np.linalg.norm(result.x[:d])


@pytest.mark.parametrize("d, margin", [(2, 0.1), (3, 0.2)])
def test_separable_has_the_margin(d, margin):
    X, Y = target("separable")(seed=5, d=d, n=60, margin=margin)
    assert X.shape == (60, d) and Y.shape == (60, 1)
    assert set(np.unique(Y)) == {-1.0, 1.0}
    assert np.abs(X).max() <= 1.0
    assert hard_margin(X, Y[:, 0]) >= margin * (1 - 1e-6)


def test_separable_rejects_an_impossible_margin():
    with pytest.raises(SadbenchError, match="margin=5"):
        target("separable")(margin=5)


@pytest.mark.parametrize(
    "name, params",
    [
        ("polynomial", dict(preset="sad4d", n=30)),
        ("teacher", dict(widths=(3, 4, 1))),
        ("separable", dict(d=3)),
    ],
)
def test_seeds_reproduce_and_differ(name, params):
    X0, Y0 = target(name)(seed=7, **params)
    X1, Y1 = target(name)(seed=7, **params)
    X2, _ = target(name)(seed=8, **params)
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(Y0, Y1)
    assert not np.array_equal(X0, X2)


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    np.savez(tmp_path / "data.npz", X=X, Y=Y)
    X1, Y1 = target("file")(path=str(tmp_path / "data.npz"))
    np.testing.assert_array_equal(X1, X)
    np.testing.assert_array_equal(Y1, Y)


@pytest.mark.parametrize("header", ["", "# x1,x2,y1,y2\n", "x1,x2,y1,y2\n"])
def test_csv_round_trip(tmp_path, header):
    rng = np.random.default_rng(1)
    table = rng.normal(size=(5, 4))
    path = tmp_path / "data.csv"
    path.write_text(header + "\n".join(",".join(repr(float(v)) for v in row) for row in table) + "\n")
    X, Y = target("file")(path=path, outputs=2)
    np.testing.assert_array_equal(X, table[:, :2])
    np.testing.assert_array_equal(Y, table[:, 2:])


def test_csv_single_column_input(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("1,2\n3,4\n")
    X, Y = target("file")(path=path)
    np.testing.assert_array_equal(X, [[1.0], [3.0]])
    np.testing.assert_array_equal(Y, [[2.0], [4.0]])


@pytest.mark.parametrize(
    "filename, contents, params, message",
    [
        ("missing.npz", None, {}, "missing.npz"),
        ("data.txt", "1,2\n", {}, "data.txt"),
        ("data.npz", None, {}, "arrays named X and Y"),
        ("data.csv", "1,2\n", dict(outputs=2), "outputs=2"),
        ("data.csv", "1,2\n3,oops\n", {}, "not a numeric csv"),
    ],
)
def test_bad_files(tmp_path, filename, contents, params, message):
    path = tmp_path / filename
    if contents is not None:
        path.write_text(contents)
    elif filename == "data.npz":
        np.savez(path, A=np.zeros(2))
    with pytest.raises(SadbenchError, match=message):
        target("file")(path=str(path), **params)


def test_points_inline_lists():
    X, Y = target("points")(X=[[1.0, 0.0], [2.0, 1.0]], Y=[1.0, 2.0])
    np.testing.assert_array_equal(X, [[1.0, 0.0], [2.0, 1.0]])
    np.testing.assert_array_equal(Y, [[1.0], [2.0]])
    X, Y = target("points")(X=[1, 2, 3], Y=[[1], [4], [9]])
    assert X.shape == (3, 1) and Y.shape == (3, 1)


def test_points_reject_bad_lists():
    with pytest.raises(SadbenchError, match="X must be"):
        target("points")(X=[[1.0], [2.0, 3.0]], Y=[1.0, 2.0])
    with pytest.raises(SadbenchError, match=r"X \(2, 1\) and Y \(3, 1\)"):
        target("points")(X=[1.0, 2.0], Y=[1.0, 2.0, 3.0])


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(UnknownNameError) as info:
        target("polynomial")(preset="sad1d", degree=3)
    message = str(info.value)
    assert "degree" in message
    for name in ("expr", "preset", "d", "n", "sampling", "box"):
        assert name in message
    assert "rng" not in message
