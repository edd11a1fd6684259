"""Anderson-mixed simplified Newton (sadbench.solvers.anderson) against a closed-form implicit step."""

import numpy as np
from numba import njit, types

import sadbench
from sadbench import signatures as sig
from sadbench.solvers import anderson, bdf, jacobian

VECTOR = sig.VECTOR


@njit(types.Tuple((types.boolean, types.int64))(sig.FUNCTIONS, sig.PROBLEM, VECTOR, types.float64, VECTOR,
                                               VECTOR, VECTOR, types.float64, VECTOR, VECTOR, VECTOR, VECTOR,
                                               types.int64, types.int64))
def _anderson(functions, prob, y, c, psi, jac, scale, tol, d, g, f, history, depth, max_iter):
    return anderson.solve(functions, prob, y, c, psi, jac, scale, tol, d, g, f, history, depth, max_iter)


@njit(types.Tuple((types.boolean, types.int64, types.int64, types.boolean))(
    sig.FUNCTIONS, sig.PROBLEM, VECTOR, types.float64, VECTOR, VECTOR, VECTOR, types.float64, VECTOR, VECTOR,
    VECTOR, VECTOR, types.boolean))
def _simplified(functions, prob, y, c, psi, jac, scale, tol, d, dy, f, space, difference):
    return bdf._newton(functions, prob, y, c, psi, jac, scale, tol, d, dy, f, space, difference)


def test_mixing_solves_a_linear_step_like_gmres_where_simplified_newton_diverges():
    """A BDF-1 (implicit Euler) step of a linear model's quadratic loss, with a Jacobian that is a fifth of
    the true Hessian: simplified Newton diverges and gives up; mixed with P = 4 differences the iteration is
    GMRES on the preconditioned system (Walker and Ni), so it lands on the closed-form step
    (I + c∇²L)⁻¹(θ + c(f(θ) + ∇²L θ)) within P + 2 iterations, to rounding."""
    net = sadbench.Network([3, 1], activation="identity")
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(10, 3)), rng.normal(size=(10, 1))
    theta = rng.normal(size=net.num_params)
    P, c = theta.size, 10.0
    functions = net.kernels("mse").functions
    w, b, work = net.problem_arrays(X, 1)
    prob = (X, Y, w, b, work[0])
    H = naive_hessian(X)
    np.testing.assert_allclose(net.hessian(theta, X, Y), H, rtol=1e-12, atol=1e-14)
    jac = np.zeros(jacobian.jacobian_size(P))
    values, vectors = np.linalg.eigh(0.2 * H)
    jac[1 : 1 + P * P] = vectors.ravel()
    jac[1 + P * P : 1 + P * P + P] = values  # jac[0] = 0: float64 eigenvectors
    f0 = -(H @ theta - 2.0 / len(X) * np.hstack([X, np.ones((len(X), 1))]).T @ Y[:, 0])  # −∇L, closed form
    expected = np.linalg.solve(np.eye(P) + c * H, theta + c * (f0 + H @ theta))
    scale = 1e-6 + 1e-3 * np.abs(theta)
    d, g, f = np.empty(P), np.empty(P), np.empty(P)
    y = theta + c * f0  # the explicit Euler predictor, and ψ = c·f(θ)
    converged, iterations = _anderson(functions, prob, y, c, c * f0, jac, scale, 0.03, d, g, f,
                                      np.empty(anderson.history_size(P, P)), P, 30)
    assert converged and iterations <= P + 2
    np.testing.assert_allclose(y, expected, rtol=1e-10)
    y = theta + c * f0
    plain, *_ = _simplified(functions, prob, y, c, c * f0, jac, scale, 0.03, d, g, f, np.zeros(0), False)
    assert not plain


def naive_hessian(X):
    """∇²L of the mse of a linear model w·x + b: (2/n)·[X 1]ᵀ[X 1]."""
    A = np.hstack([X, np.ones((len(X), 1))])
    return 2.0 / len(X) * A.T @ A
