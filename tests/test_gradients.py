"""Loss, gradient and forward pass of the compiled kernels against the numpy oracle and finite differences.

Every built-in activation × loss, depths 1 to 4, with and without biases, several inputs and outputs. The
compiled kernels depend on the activation and loss only (about a second of numba compilation each per
process), so every architecture reuses them.
"""

import mpmath as mp
import naive
import numpy as np
import pytest
from conftest import builtin_names, plugin_registry, sample_data

import sadbench

ACTIVATIONS = builtin_names(sadbench.get_registry(), "activation")
LOSSES = builtin_names(sadbench.get_registry(), "loss")
COMBINATIONS = [pytest.param(a, loss, id=f"{a}-{loss}") for a in ACTIVATIONS for loss in LOSSES]

# (widths, bias): depth = number of weight layers; d > 1 and k > 1 in some.
ARCHITECTURES = [
    ([3, 2], True),
    ([1, 5, 1], False),
    ([2, 4, 3, 1], True),
    ([3, 3, 4, 2, 2], True),
    ([2, 3, 3, 3, 1], False),
]
ARCH_IDS = [f"{'-'.join(map(str, w))}{'' if b else '-nobias'}" for w, b in ARCHITECTURES]

N_POINTS = 6
KINK_MARGIN = 1e-3  # min |pre-activation| for finite differences of kinked activations
FD_STEP = 1e-6


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


def labels_of(loss_name):
    return sadbench.get_registry().get("loss", loss_name).labels


def problem(widths, bias, activation, loss_name, seed=0):
    """Data and parameters; for kinked activations, the first seed whose hidden pre-activations all stay
    ``KINK_MARGIN`` away from the kink (deterministic)."""
    for s in range(seed, seed + 200):
        rng = np.random.default_rng(s)
        X, Y = sample_data(rng, N_POINTS, widths[0], widths[-1], labels_of(loss_name))
        theta = rng.normal(scale=0.8, size=naive.num_params(widths, bias))
        if activation not in naive.KINKED:
            return X, Y, theta
        hidden = naive.pre_activations(theta, X, widths, bias, activation)[:-1]
        if all(np.min(np.abs(Z)) > KINK_MARGIN for Z in hidden):
            return X, Y, theta
    raise AssertionError("no kink-free problem found")  # pragma: no cover


def test_every_builtin_has_an_oracle():
    assert set(ACTIVATIONS) <= set(naive.ACTIVATIONS)
    assert set(LOSSES) == set(naive.LOSSES)
    assert {"tanh", "gelu", "relu", "identity"} <= set(ACTIVATIONS)


@pytest.mark.parametrize("activation, loss_name", COMBINATIONS)
@pytest.mark.parametrize("widths, bias", ARCHITECTURES, ids=ARCH_IDS)
def test_loss_and_gradient_match_oracle(widths, bias, activation, loss_name):
    net = sadbench.Network(widths, activation=activation, bias=bias)
    assert net.num_params == naive.num_params(widths, bias)
    X, Y, theta = problem(widths, bias, activation, loss_name)
    L, g = net.loss_and_grad(theta, X, Y, loss=loss_name)
    L_ref, g_ref = naive.loss_and_grad(theta, X, Y, widths, bias, activation, loss_name)
    assert isinstance(L, float) and g.shape == theta.shape
    assert abs(L - L_ref) <= 1e-12 * abs(L_ref)
    assert rel_err(g, g_ref) <= 1e-12


@pytest.mark.parametrize("activation, loss_name", COMBINATIONS)
@pytest.mark.parametrize("widths, bias", ARCHITECTURES, ids=ARCH_IDS)
def test_gradient_matches_finite_differences(widths, bias, activation, loss_name):
    """Central differences of the kernel's own loss, all 2P evaluations in one ensemble call."""
    net = sadbench.Network(widths, activation=activation, bias=bias)
    X, Y, theta = problem(widths, bias, activation, loss_name, seed=1)
    P = theta.size
    steps = FD_STEP * np.maximum(1.0, np.abs(theta))
    shifted = np.concatenate([theta + np.diag(steps), theta - np.diag(steps)])
    losses, _ = net.loss_and_grad(shifted, X, Y, loss=loss_name)
    fd = (losses[:P] - losses[P:]) / (2 * steps)
    _, g = net.loss_and_grad(theta, X, Y, loss=loss_name)
    assert rel_err(g, fd) <= 1e-6


@pytest.mark.parametrize("activation, loss_name", COMBINATIONS)
def test_ensemble_equals_row_by_row(activation, loss_name):
    widths, bias = [2, 4, 3, 2], True
    net = sadbench.Network(widths, activation=activation, bias=bias)
    rng = np.random.default_rng(7)
    X, Y = sample_data(rng, N_POINTS, widths[0], widths[-1], labels_of(loss_name))
    thetas = rng.normal(scale=0.8, size=(5, net.num_params))
    losses, grads = net.loss_and_grad(thetas, X, Y, loss=loss_name)
    assert losses.shape == (5,) and grads.shape == thetas.shape
    for e in range(len(thetas)):
        L, g = net.loss_and_grad(thetas[e], X, Y, loss=loss_name)
        assert losses[e] == L
        np.testing.assert_array_equal(grads[e], g)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("widths, bias", ARCHITECTURES, ids=ARCH_IDS)
def test_forward_matches_oracle(widths, bias, activation):
    net = sadbench.Network(widths, activation=activation, bias=bias)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N_POINTS, widths[0]))
    theta = rng.normal(scale=0.8, size=net.num_params)
    out = net.forward(theta, X)
    ref = naive.forward(theta, X, widths, bias, activation)
    assert out.shape == (N_POINTS, widths[-1])
    assert rel_err(out, ref) <= 1e-13


@pytest.mark.parametrize("widths, bias", ARCHITECTURES, ids=ARCH_IDS)
def test_unflatten_is_the_flat_layout(widths, bias):
    net = sadbench.Network(widths, activation="tanh", bias=bias)
    theta = np.arange(net.num_params, dtype=np.float64)
    layers = net.unflatten(theta)
    ref = naive.unflatten(theta, widths, bias)
    assert len(layers) == len(widths) - 1
    for (W, b), (W_ref, b_ref) in zip(layers, ref):
        np.testing.assert_array_equal(W, W_ref)
        if bias:
            np.testing.assert_array_equal(b, b_ref)
        else:
            assert b is None
    np.testing.assert_array_equal(naive.flatten(layers), theta)


# Hand-computed values of docs/science.md §1's definitions for z = a·x + b with θ = (a, b) = (1, 0),
# x = (1, 2): outputs z = (1, 2).
HAND_CASES = {
    # mean of (z − y)², no ½; y = (0, 0): L = (1 + 4)/2, ∂a = mean 2·z·x = (2 + 8)/2, ∂b = mean 2·z = 3.
    "mse": ([0.0, 0.0], 2.5, [5.0, 3.0]),
    # y = (1, −1): L = mean log(1 + e^{−y z}); ∂z = −y·e^{−yz}/(1 + e^{−yz}).
    "logistic": (
        [1.0, -1.0],
        0.5 * (np.log1p(np.exp(-1.0)) + np.log1p(np.exp(2.0))),
        [0.5 * (-1 / (1 + np.e) + 2 * np.exp(2) / (1 + np.exp(2))),
         0.5 * (-1 / (1 + np.e) + np.exp(2) / (1 + np.exp(2)))],
    ),
    # y = (1, −1): L = mean e^{−y z}; ∂z = −y e^{−yz}.
    "exponential": ([1.0, -1.0], 0.5 * (np.exp(-1.0) + np.exp(2.0)),
                    [0.5 * (-np.exp(-1.0) + 2 * np.exp(2.0)), 0.5 * (-np.exp(-1.0) + np.exp(2.0))]),
}


@pytest.mark.parametrize("loss_name", sorted(HAND_CASES))
def test_loss_conventions_by_hand(loss_name):
    y, L_hand, g_hand = HAND_CASES[loss_name]
    net = sadbench.Network([1, 1], activation="identity", bias=True)
    L, g = net.loss_and_grad(np.array([1.0, 0.0]), np.array([[1.0], [2.0]]), np.array([y]).T, loss=loss_name)
    assert L == pytest.approx(L_hand, rel=1e-14)
    np.testing.assert_allclose(g, g_hand, rtol=1e-14)


@pytest.mark.parametrize("loss_name", ["logistic", "exponential"])
def test_margin_losses_are_finite_far_from_the_boundary(loss_name):
    """Outputs z = ±700 with labels of either sign: the logistic loss must not overflow (log1p/logaddexp)."""
    net = sadbench.Network([1, 1], activation="identity", bias=False)
    X = np.array([[1.0], [-1.0], [1.0], [-1.0]])
    Y = np.array([[1.0], [1.0], [-1.0], [-1.0]])
    theta = np.array([700.0])
    L, g = net.loss_and_grad(theta, X, Y, loss=loss_name)
    L_ref, g_ref = naive.loss_and_grad(theta, X, Y, [1, 1], False, "identity", loss_name)
    assert np.isfinite(L) and np.all(np.isfinite(g))
    assert L == pytest.approx(L_ref, rel=1e-14)
    np.testing.assert_allclose(g, g_ref, rtol=1e-14)
    if loss_name == "logistic":
        assert L == pytest.approx(700.0 / 2, rel=1e-14)  # two points of loss ≈ 700, two of ≈ 0


def test_shapes_are_checked():
    net = sadbench.Network([2, 3, 1], activation="tanh", bias=True)
    X, Y = np.zeros((4, 2)), np.zeros((4, 1))
    with pytest.raises(sadbench.SadbenchError, match=r"theta must have shape \(13,\) or \(E, 13\), got \(2, 12\)"):
        net.loss_and_grad(np.zeros((2, 12)), X, Y)
    with pytest.raises(sadbench.SadbenchError, match=r"X must have shape \(n, 2\), got \(4, 3\)"):
        net.loss_and_grad(np.zeros(13), np.zeros((4, 3)), Y)
    with pytest.raises(sadbench.SadbenchError, match=r"Y must have shape \(4, 1\), got \(3, 1\)"):
        net.loss_and_grad(np.zeros(13), X, np.zeros((3, 1)))
    with pytest.raises(sadbench.SadbenchError, match="widths must list at least two positive sizes"):
        sadbench.Network([3], activation="tanh")
    with pytest.raises(sadbench.UnknownNameError, match="unknown activation 'tahn'.*did you mean 'tanh'"):
        sadbench.Network([1, 1], activation="tahn")
    # a 1-D Y is read as one output per point
    L1, g1 = net.loss_and_grad(np.ones(13), X + 0.5, np.arange(4.0))
    L2, g2 = net.loss_and_grad(np.ones(13), X + 0.5, np.arange(4.0)[:, None])
    assert L1 == L2 and np.array_equal(g1, g2)


def test_wrong_vector_length_is_reported_as_given():
    net = sadbench.Network([2, 3, 1], activation="tanh", bias=True)
    with pytest.raises(sadbench.SadbenchError, match=r"theta must have shape \(13,\) or \(E, 13\), got \(12,\)"):
        net.loss_and_grad(np.zeros(12), np.zeros((4, 2)), np.zeros((4, 1)))


def _mp_logistic(x):
    return 1 / (1 + mp.exp(-x))


def _mp_d_logistic(x):
    e = mp.exp(-x)
    return e / (1 + e) ** 2


def _mp_softplus(x):
    return mp.log1p(mp.exp(x))


#: name -> (σ, σ′) in 40-digit arithmetic, each written in a form without cancellation at that precision.
MP_ACTIVATIONS = {
    "logistic": (_mp_logistic, _mp_d_logistic),
    "tanh": (mp.tanh, lambda x: mp.sech(x) ** 2),
    "softplus": (_mp_softplus, _mp_logistic),
    "gelu": (lambda x: x * mp.ncdf(x), lambda x: mp.ncdf(x) + x * mp.npdf(x)),
    "silu": (lambda x: x * _mp_logistic(x), lambda x: _mp_logistic(x) + x * _mp_d_logistic(x)),
    "mish": (lambda x: x * mp.tanh(_mp_softplus(x)),
             lambda x: mp.tanh(_mp_softplus(x)) + x * mp.sech(_mp_softplus(x)) ** 2 * _mp_logistic(x)),
    "elu": (lambda x: x if x > 0 else mp.expm1(x), lambda x: mp.mpf(1) if x > 0 else mp.exp(x)),
    "identity": (lambda x: x, lambda x: mp.mpf(1)),
    "relu": (lambda x: x if x > 0 else mp.mpf(0), lambda x: mp.mpf(1 if x > 0 else 0)),
    "leaky_relu": (lambda x: x if x > 0 else x / 100, lambda x: mp.mpf(1) if x > 0 else mp.mpf(1) / 100),
}

SWEEP = np.concatenate([-np.geomspace(700.0, 1e-6, 60), np.geomspace(1e-6, 700.0, 60)])


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_activations_in_the_kernels_are_accurate(activation):
    """σ(x) and σ′(x) as the kernels evaluate them, |x| from 1e-6 to 700, against 40-digit references.

    With the ``linear`` loss ℓ(z, y) = z·y of tests/plugin_files, a network [1, 1, 1] without biases at
    θ = (x, 1) on the point X = Y = 1 has L = σ(x) and ∇L = (σ′(x), σ(x)) exactly.
    """
    assert set(MP_ACTIVATIONS) == set(ACTIVATIONS)
    f, df = MP_ACTIVATIONS[activation]
    net = sadbench.Network([1, 1, 1], activation=activation, bias=False, registry=plugin_registry())
    thetas = np.stack([SWEEP, np.ones_like(SWEEP)], axis=1)
    L, g = net.loss_and_grad(thetas, np.ones((1, 1)), np.ones((1, 1)), loss="linear")
    with mp.workdps(40):
        value = np.array([float(f(mp.mpf(x))) for x in SWEEP])
        slope = np.array([float(df(mp.mpf(x))) for x in SWEEP])
        # σ′ of gelu, silu and mish crosses zero once: its relative accuracy is lost there, skip ±0.1
        crossings = np.flatnonzero(np.sign(slope[:-1]) * np.sign(slope[1:]) < 0)
        roots = [float(mp.findroot(df, (SWEEP[i], SWEEP[i + 1]), solver="anderson")) for i in crossings]
    away = np.all([np.abs(SWEEP - r) > 0.1 for r in roots], axis=0) if roots else np.ones(SWEEP.size, bool)
    np.testing.assert_array_equal(g[:, 1], L)
    np.testing.assert_allclose(L, value, rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(g[away, 0], slope[away], rtol=1e-14, atol=1e-300)
    assert len(roots) == (1 if activation in ("gelu", "silu", "mish") else 0)
    assert away.sum() >= SWEEP.size - 2
