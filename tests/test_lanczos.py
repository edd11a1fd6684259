"""BDF's low-rank Jacobian (sadbench.solvers.lanczos) against dense references, and the fast BDF path against
an independent tight reference.

References: the Hessian by central differences of the numpy oracle's gradient (tests/naive.py), the
eigendecomposition and linear solves of numpy, scipy's Radau with the exact Hessian at rtol 1e-12.
"""

import naive
import numpy as np
import pytest
from numba import njit, types
from scipy.integrate import solve_ivp

import sadbench
from sadbench import signatures as sig
from sadbench.solvers import bdf, jacobian, lanczos, products
from sadbench.solvers.bdf import BDF
from test_stiff import flow_for_scipy

WIDTHS, ACT = [1, 4, 4, 1], "tanh"  # P = 33: small enough for a dense finite-difference Hessian


def _small_problem():
    rng = np.random.default_rng(4)
    X = np.linspace(-1.0, 1.0, 12)[:, None]
    Y = np.sin(3.0 * X)
    net = sadbench.Network(WIDTHS, activation=ACT)
    return net, X, Y, rng.normal(scale=0.8, size=net.num_params)


def _oracle_hessian(net, theta, X, Y, step=1e-5):
    """Central differences of the numpy oracle's gradient, symmetrised."""
    P = theta.size
    H = np.empty((P, P))
    for p in range(P):
        e = np.zeros(P)
        e[p] = step
        plus = naive.loss_and_grad(theta + e, X, Y, list(net.widths), True, ACT, "mse")[1]
        minus = naive.loss_and_grad(theta - e, X, Y, list(net.widths), True, ACT, "mse")[1]
        H[p] = (plus - minus) / (2 * step)
    return 0.5 * (H + H.T)


@njit(types.Tuple((types.boolean, types.int64))(sig.FUNCTIONS, sig.PROBLEM, sig.VECTOR, sig.VECTOR, sig.VECTOR,
                                               types.float64, types.float64, types.boolean))
def _evaluate(functions, prob, y, f, region, c_ref, tol, difference):
    """lanczos.evaluate with the functions as first-class functions, the specialisation BDF compiles."""
    return lanczos.evaluate(functions, prob, y, f, region, c_ref, tol, difference)


@njit(types.void(sig.FUNCTIONS, sig.PROBLEM, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR,
                 types.boolean))
def _product(functions, prob, y, f, v, out, shifted, difference):
    products.product(functions, prob, y, f, v, out, shifted, difference)


def _prepared(net, theta, X, Y):
    """The kernels' functions, the problem tuple and f = −∇L(θ)."""
    functions = net.kernels("mse").functions
    widths, bias, work = net.problem_arrays(X, 1)
    prob = (X, Y, widths, bias, work[0])
    f = np.empty(theta.size)
    functions[0](prob, theta, f)
    return functions, prob, f


def _model(net, theta, X, Y, c_ref, tol, difference, rank):
    """A Lanczos model of ∇²L(θ) built by the compiled evaluate, as BDF builds it."""
    functions, prob, f = _prepared(net, theta, X, Y)
    region = np.zeros(lanczos.region_size(theta.size, min(rank, theta.size)))
    finite, products = _evaluate(functions, prob, theta, f, region, c_ref, tol, difference)
    assert finite
    return region, products


@pytest.mark.parametrize("difference", [False, True], ids=["exact", "difference"])
def test_full_rank_model_is_the_hessian(difference):
    """With room for every Ritz pair and a tolerance that keeps all of them, Lanczos runs until its Krylov
    space is the whole space: the model solves (I + c∇²L) x = b as the dense Hessian does, for any c,
    including c past a negative eigenvalue's -1/λ, and its spectral radius is ∇²L's. Difference products
    carry relative errors of about 1e-7 (ε·∇³L of a forward difference), amplified where I + c∇²L is nearly
    singular: measured 1.5e-7 at c = 0.1 to 5.5e-6 at c = 1e3."""
    net, X, Y, theta = _small_problem()
    H = _oracle_hessian(net, theta, X, Y)
    region, products = _model(net, theta, X, Y, c_ref=1e8, tol=1e-12, difference=difference, rank=200)
    assert int(region[1]) == theta.size and products == theta.size
    eigenvalues = np.linalg.eigvalsh(H)
    assert eigenvalues[0] < 0  # the test covers an indefinite Hessian
    b = np.random.default_rng(0).normal(size=theta.size)
    out = np.empty_like(b)
    for c in (0.1, 1.0, 10.0, 1e3):
        assert jacobian.solve(region, c, b, out)
        expected = np.linalg.solve(np.eye(theta.size) + c * H, b)
        error = np.linalg.norm(out - expected) / np.linalg.norm(expected)
        assert error <= (2e-5 if difference else 1e-8), (c, error)
    assert jacobian.spectral_radius(region, theta.size) == pytest.approx(np.abs(eigenvalues).max(), rel=1e-7)


def test_singular_step_is_refused():
    """1 + cθ = 0 for a Ritz value θ < 0: the solve reports failure instead of dividing by zero."""
    net, X, Y, theta = _small_problem()
    region, _ = _model(net, theta, X, Y, c_ref=1e8, tol=1e-12, difference=False, rank=200)
    values = lanczos.ritz_values(region, theta.size)
    negative = values[values < 0][0]
    b = np.ones(theta.size)
    assert not jacobian.solve(region, -1.0 / negative, b, np.empty_like(b))


def test_difference_products_match_exact_products():
    """The forward difference of the gradient that Lanczos uses by default agrees with the exact
    Hessian-vector product to far better than a Newton matrix needs."""
    net = sadbench.Network([1, 10, 20, 10, 1], activation="gelu")
    X, Y = sadbench.get_registry().get("target", "polynomial")(seed=0, preset="sad1d", n=64, sampling="uniform")
    X, Y = np.array(X), np.array(Y)
    theta = net.init(seed=0, scheme="xavier_uniform", bias=0.0)
    functions, prob, f = _prepared(net, theta, X, Y)
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = rng.normal(size=theta.size)
        exact, approx, shifted = np.empty_like(v), np.empty_like(v), np.empty_like(v)
        _product(functions, prob, theta, f, v, exact, shifted, False)
        _product(functions, prob, theta, f, v, approx, shifted, True)
        np.testing.assert_allclose(exact, net.hvp(theta, v, X, Y), rtol=0, atol=1e-13 * np.abs(exact).max())
        assert np.linalg.norm(approx - exact) <= 1e-6 * np.linalg.norm(exact)


@pytest.fixture(scope="module")
def sad1d_midflow():
    """SAD 1D (GELU 1-10-20-10-1, P = 461, 64 points) at t = 100 of its flow, and its exact dense Hessian."""
    net = sadbench.Network([1, 10, 20, 10, 1], activation="gelu")
    X, Y = sadbench.get_registry().get("target", "polynomial")(seed=0, preset="sad1d", n=64, sampling="uniform")
    X, Y = np.array(X), np.array(Y)
    theta0 = net.init(seed=0, scheme="xavier_uniform", bias=0.0)
    theta = sadbench.integrate(net, theta0, X, Y, integrator=BDF("bdf_dense", jacobian="dense"), t_end=100.0,
                               rtol=1e-8, atol=1e-11, detectors=None).theta
    return net, X, Y, theta, net.hessian(theta, X, Y)


@pytest.mark.parametrize("c_ref", [1.0, 100.0])
def test_low_rank_model_contracts_simplified_newton(sad1d_midflow, c_ref):
    """The model keeps a few dozen of the 461 directions, yet simplified Newton with it contracts at about
    ``tol`` for the c that BDF uses it at, up to c_ref / 4 (its default growth): the spectral radius of
    I − M⁻¹(I + c∇²L), with the dense exact Hessian. (At c_ref itself, eigenvalues of the bulk near zero that
    Lanczos has not reached cost more: see sadbench.solvers.lanczos.)"""
    net, X, Y, theta, H = sad1d_midflow
    tol = 0.05
    region, products = _model(net, theta, X, Y, c_ref=c_ref, tol=tol, difference=True, rank=160)
    P = theta.size
    assert int(region[1]) <= 80 and products <= 80  # low rank: a sixth of P or less
    solved = np.empty((P, P))  # row j: M⁻¹ times column j of I + c∇²L (symmetric, so its row j)
    for c in (c_ref / 8, c_ref / bdf.LANCZOS_GROWTH):
        A = np.eye(P) + c * H
        for j in range(P):
            jacobian.solve(region, c, A[j].copy(), solved[j])
        rate = np.abs(np.linalg.eigvals(np.eye(P) - solved.T)).max()
        assert rate <= 2 * tol, (c, rate)


def test_bdf_options_are_checked():
    with pytest.raises(ValueError, match="jacobian must be one of 'dense', 'lanczos'"):
        BDF("x", jacobian="lu")
    with pytest.raises(ValueError, match="products must be one of 'exact', 'difference'"):
        BDF("x", products="central")
    with pytest.raises(ValueError, match="newton_tol must be in"):
        BDF("x", newton_tol=2.0)
    assert bdf.pack(newton_tol=None)[bdf.NEWTON] == 0.0  # scipy's rule


@pytest.fixture(scope="module")
def gelu_radau():
    """GELU 1-8-8-1 (P = 97) on 32 points of the SAD 1D polynomial to t = 1e4: scipy's Radau with the exact
    Hessian at rtol 1e-12 as the reference."""
    net = sadbench.Network([1, 8, 8, 1], activation="gelu")
    X, Y = sadbench.get_registry().get("target", "polynomial")(seed=1, preset="sad1d", n=32, sampling="uniform")
    X, Y = np.array(X), np.array(Y)
    theta0 = net.init(seed=1, scheme="xavier_uniform", bias=0.0)
    fun, jac = flow_for_scipy(net, X, Y)
    t = 10.0 ** np.arange(-1, 5)
    ref = solve_ivp(fun, (0, t[-1]), theta0, method="Radau", t_eval=t, rtol=1e-12, atol=1e-14, jac=jac)
    assert ref.success
    losses = net.loss_and_grad(np.ascontiguousarray(ref.y.T), X, Y)[0]
    return net, X, Y, theta0, t, losses, np.linalg.norm(ref.y, axis=0)


@pytest.mark.parametrize("name", ["bdf", "auto", "dense"])
def test_fast_path_agrees_with_radau(gelu_radau, name):
    """The default (Lanczos, difference products, Newton tolerance 0.03), auto and the dense form all follow
    the reference at every decade to 1e-6 relative in L and ||θ|| at rtol 1e-9, and the low-rank model is
    used, of rank below P."""
    net, X, Y, theta0, t, losses, norms = gelu_radau
    integrator = BDF("bdf_dense", jacobian="dense") if name == "dense" else name
    sol = sadbench.integrate(net, theta0, X, Y, integrator=integrator, t_end=t[-1], save=t, rtol=1e-9,
                             atol=1e-12, detectors=None)
    assert sol.status == "success"
    assert np.abs(sol.loss[1:] / losses - 1).max() <= 1e-6
    assert np.abs(sol.norm[1:] / norms - 1).max() <= 1e-6
    stats = sol.integrator_stats.get("bdf", sol.integrator_stats)
    assert stats["jacobian"] == ("dense" if name == "dense" else "lanczos")
    if name != "dense":
        assert 0 < stats["rank"] < net.num_params and stats["lanczos_products"] > 0
