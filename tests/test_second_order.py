"""Exact second derivatives (Hessian-vector products and dense Hessians) against finite differences.

Every built-in activation (all have σ″) × every loss, depths 1 to 3, with and without biases. The references
are independent of the Hessian kernels: central differences of the gradient kernel (itself checked against
the numpy oracle in test_gradients.py) and second differences of the loss alone.
"""

import numpy as np
import pytest
from numba import njit, prange, types

import sadbench
from sadbench import signatures as sig
from test_gradients import FD_STEP, problem, rel_err

REGISTRY = sadbench.get_registry()
ACTIVATIONS = sorted(e.spec.name for e in REGISTRY.entries("activation")
                     if e.source == "sadbench (built-in)" and e.spec.d2f is not None)
LOSSES = sorted(e.spec.name for e in REGISTRY.entries("loss") if e.source == "sadbench (built-in)")

# (widths, bias), depth = number of weight layers: 1 to 3, with and without biases.
ARCHITECTURES = [([3, 2], True), ([2, 1], False), ([1, 5, 1], True), ([2, 4, 2], False), ([2, 3, 4, 2], True),
                 ([1, 3, 3, 1], False)]
ARCH_IDS = [f"{'-'.join(map(str, w))}{'' if b else '-nobias'}" for w, b in ARCHITECTURES]


def central_difference_of_gradient(net, theta, directions, X, Y, loss):
    """(∇L(θ + εv) − ∇L(θ − εv)) / 2ε for each row v of ``directions``, in one ensemble call."""
    steps = FD_STEP * np.maximum(1.0, np.abs(theta).max()) / np.linalg.norm(directions, axis=1)
    shifted = np.concatenate([theta + steps[:, None] * directions, theta - steps[:, None] * directions])
    _, grads = net.loss_and_grad(shifted, X, Y, loss=loss)
    m = len(directions)
    return (grads[:m] - grads[m:]) / (2 * steps[:, None])


def test_every_builtin_activation_has_second_derivatives():
    assert {"tanh", "gelu", "softplus", "silu", "logistic", "mish"} <= set(ACTIVATIONS)


@pytest.mark.parametrize("loss_name", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("widths, bias", ARCHITECTURES, ids=ARCH_IDS)
def test_hvp_matches_central_differences_of_the_gradient(widths, bias, activation, loss_name):
    net = sadbench.Network(widths, activation=activation, bias=bias)
    X, Y, theta = problem(widths, bias, activation, loss_name, seed=2)
    v = np.random.default_rng(5).normal(size=theta.size)
    fd = central_difference_of_gradient(net, theta, v[None], X, Y, loss_name)[0]
    assert rel_err(net.hvp(theta, v, X, Y, loss=loss_name), fd) <= 1e-6


@pytest.mark.parametrize("loss_name", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("widths, bias", ARCHITECTURES, ids=ARCH_IDS)
def test_dense_hessian_matches_hvp_and_finite_differences(widths, bias, activation, loss_name):
    net = sadbench.Network(widths, activation=activation, bias=bias)
    X, Y, theta = problem(widths, bias, activation, loss_name, seed=3)
    H = net.hessian(theta, X, Y, loss=loss_name)
    np.testing.assert_array_equal(H, H.T)
    fd = central_difference_of_gradient(net, theta, np.eye(theta.size), X, Y, loss_name)
    assert rel_err(H, fd) <= 1e-6
    v = np.random.default_rng(8).normal(size=theta.size)
    assert rel_err(H @ v, net.hvp(theta, v, X, Y, loss=loss_name)) <= 1e-12


@pytest.mark.parametrize("loss_name", LOSSES)
@pytest.mark.parametrize("activation", ["tanh", "gelu", "softplus"])
def test_curvature_along_a_line_matches_second_differences_of_the_loss(activation, loss_name):
    """vᵀ∇²L v = d²/ds² L(θ + s v) at s = 0, from the loss values alone (five-point stencil)."""
    widths, bias = [2, 4, 3, 1], True
    net = sadbench.Network(widths, activation=activation, bias=bias)
    X, Y, theta = problem(widths, bias, activation, loss_name, seed=4)
    v = np.random.default_rng(1).normal(size=theta.size)
    v /= np.linalg.norm(v)
    s = 1e-3
    losses, _ = net.loss_and_grad(theta + np.outer([-2, -1, 0, 1, 2], s * v), X, Y, loss=loss_name)
    second = (-losses[0] + 16 * losses[1] - 30 * losses[2] + 16 * losses[3] - losses[4]) / (12 * s * s)
    exact = v @ net.hvp(theta, v, X, Y, loss=loss_name)
    assert exact == pytest.approx(second, rel=1e-6, abs=1e-9)


@njit(types.void(types.FunctionType(sig.HVP), sig.MATRIX, sig.MATRIX, types.int64[::1], types.int64, sig.MATRIX,
                 sig.MATRIX, sig.MATRIX, sig.MATRIX), parallel=True)
def _hvp_ensemble(hvp, X, Y, widths, bias, work, thetas, vs, out):
    """Hessian-vector products for every member on threads, each with its own scratch row."""
    for e in prange(thetas.shape[0]):
        hvp((X, Y, widths, bias, work[e]), thetas[e], vs[e], out[e])


@pytest.mark.parametrize("loss_name", LOSSES)
def test_ensemble_members_on_threads_equal_one_at_a_time(loss_name):
    """The kernels keep no state outside a member's scratch row: E members in parallel give the same
    products as one vector at a time, and the dense Hessian of each member agrees with its products."""
    widths, bias, E = [2, 5, 3, 2], True, 6
    net = sadbench.Network(widths, activation="gelu", bias=bias)
    X, Y, _ = problem(widths, bias, "gelu", loss_name)
    rng = np.random.default_rng(11)
    thetas = rng.normal(scale=0.8, size=(E, net.num_params))
    vs = rng.normal(size=(E, net.num_params))
    widths_array, bias_flag, work = net.problem_arrays(X, E)
    out = np.empty_like(thetas)
    _hvp_ensemble(net.kernels(loss_name).functions[1], X, Y, widths_array, bias_flag, work, thetas, vs, out)
    for e in range(E):
        np.testing.assert_array_equal(out[e], net.hvp(thetas[e], vs[e], X, Y, loss=loss_name))
        assert rel_err(net.hessian(thetas[e], X, Y, loss=loss_name) @ vs[e], out[e]) <= 1e-12
