"""Slow, obviously correct numpy oracles for the sadbench kernels (STYLE.md: stumpy's ``tests/naive.py``).

Written from docs/science.md §1, not from the kernels in ``sadbench/model/``: whole-batch matrix products, one explicit
numpy formula per activation and its derivative, one per loss and its derivative in the network output z, and
textbook backpropagation. Flat layout: for each layer W (out × in, row-major), then b (out) if ``bias``.
"""

import numpy as np
from scipy.special import erf, expit

SQRT2 = np.sqrt(2.0)
SQRT2PI = np.sqrt(2.0 * np.pi)
LEAKY_SLOPE = 0.01


def _softplus(x):
    return np.logaddexp(0.0, x)


def _gelu(x):
    return 0.5 * x * (1.0 + erf(x / SQRT2))


def _d_gelu(x):
    # d/dx x·Φ(x) = Φ(x) + x·φ(x)
    return 0.5 * (1.0 + erf(x / SQRT2)) + x * np.exp(-0.5 * x * x) / SQRT2PI


def _d_silu(x):
    s = expit(x)
    return s + x * s * (1.0 - s)


def _mish(x):
    return x * np.tanh(_softplus(x))


def _d_mish(x):
    t = np.tanh(_softplus(x))
    return t + x * (1.0 - t * t) * expit(x)


#: name -> (σ, σ′), vectorised over arrays.
ACTIVATIONS = {
    "logistic": (expit, lambda x: expit(x) * (1.0 - expit(x))),
    "tanh": (np.tanh, lambda x: 1.0 - np.tanh(x) ** 2),
    "softplus": (_softplus, expit),
    "gelu": (_gelu, _d_gelu),
    "silu": (lambda x: x * expit(x), _d_silu),
    "mish": (_mish, _d_mish),
    "elu": (
        lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0.0))),
        lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0.0))),
    ),
    "identity": (lambda x: x, np.ones_like),
    "relu": (lambda x: np.maximum(x, 0.0), lambda x: (x > 0).astype(np.float64)),
    "leaky_relu": (lambda x: np.where(x > 0, x, LEAKY_SLOPE * x), lambda x: np.where(x > 0, 1.0, LEAKY_SLOPE)),
    # Third-party activation provided by tests/plugin_files/cubic_plugin.py.
    "softsign": (lambda x: x / (1.0 + np.abs(x)), lambda x: 1.0 / (1.0 + np.abs(x)) ** 2),
    # Third-party activation provided by tests/thirdparty (the sadbench_thirdparty_demo package).
    "arctan": (np.arctan, lambda x: 1.0 / (1.0 + x * x)),
}

#: The built-in activations with a kink (not C²) where finite differences need care.
KINKED = {"relu", "leaky_relu", "elu"}

#: name -> (ℓ(z, y), ∂ℓ/∂z), elementwise; L = mean over points of the sum over outputs.
LOSSES = {
    "mse": (lambda z, y: (z - y) ** 2, lambda z, y: 2.0 * (z - y)),
    "logistic": (lambda z, y: np.logaddexp(0.0, -y * z), lambda z, y: -y * expit(-y * z)),
    "exponential": (lambda z, y: np.exp(-y * z), lambda z, y: -y * np.exp(-y * z)),
}


def num_params(widths, bias):
    return sum(o * (i + int(bias)) for i, o in zip(widths[:-1], widths[1:]))


def unflatten(theta, widths, bias, dtype=np.float64):
    """[(W, b)] for one flat vector; b is None without biases."""
    theta = np.asarray(theta, dtype=dtype)
    assert theta.shape == (num_params(widths, bias),)
    layers, p = [], 0
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        W = theta[p : p + fan_out * fan_in].reshape(fan_out, fan_in)
        p += fan_out * fan_in
        b = None
        if bias:
            b = theta[p : p + fan_out]
            p += fan_out
        layers.append((W, b))
    return layers


def flatten(layers):
    parts = []
    for W, b in layers:
        parts.append(np.ravel(W))
        if b is not None:
            parts.append(b)
    return np.concatenate(parts)


def pre_activations(theta, X, widths, bias, activation, dtype=np.float64):
    """Z of every layer (the last one is the output), as a list of (n, width) arrays."""
    sigma, _ = ACTIVATIONS[activation]
    A = np.asarray(X, dtype=dtype)
    Zs = []
    layers = unflatten(theta, widths, bias, dtype)
    for W, b in layers:
        Z = A @ W.T
        if b is not None:
            Z = Z + b
        Zs.append(Z)
        A = sigma(Z)
    return Zs


def forward(theta, X, widths, bias, activation):
    """Network outputs (n, k): σ after every hidden layer, linear output layer."""
    return pre_activations(theta, X, widths, bias, activation)[-1]


def loss(theta, X, Y, widths, bias, activation, loss_name):
    value, _ = LOSSES[loss_name]
    Z = forward(theta, X, widths, bias, activation)
    return float(np.sum(value(Z, np.asarray(Y, dtype=np.float64))) / len(X))


def loss_and_grad(theta, X, Y, widths, bias, activation, loss_name, dtype=np.float64):
    """L(θ) and ∇L(θ) by backpropagation over the whole batch.

    ``dtype=np.longdouble`` gives extended-precision references for the activations and losses whose numpy
    formulas keep it (tanh, identity, relu, leaky_relu with mse); L is then returned as a numpy scalar.
    """
    sigma, dsigma = ACTIVATIONS[activation]
    value, d_value = LOSSES[loss_name]
    X = np.asarray(X, dtype=dtype)
    Y = np.asarray(Y, dtype=dtype)
    n = len(X)
    layers = unflatten(theta, widths, bias, dtype)
    Zs = pre_activations(theta, X, widths, bias, activation, dtype)
    inputs = [X] + [sigma(Z) for Z in Zs[:-1]]  # the input of each layer
    out = Zs[-1]
    L = np.sum(value(out, Y)) / n
    L = float(L) if dtype == np.float64 else L
    delta = d_value(out, Y) / n  # ∂L/∂Z of the output layer
    grads = [None] * len(layers)
    for layer in range(len(layers) - 1, -1, -1):
        W, b = layers[layer]
        gW = delta.T @ inputs[layer]
        gb = delta.sum(axis=0) if b is not None else None
        grads[layer] = (gW, gb)
        if layer > 0:
            delta = (delta @ W) * dsigma(Zs[layer - 1])
    return L, flatten(grads)


def gradient_flow_rhs(widths, bias, activation, loss_name, X, Y, dtype=np.float64):
    """(t, θ) ↦ -∇L(θ), from the oracle (the signature scipy's solve_ivp expects)."""

    def rhs(t, theta):
        return -loss_and_grad(theta, X, Y, widths, bias, activation, loss_name, dtype)[1]

    return rhs


def rk_fixed(rhs, theta0, t_end, n_steps, A, b, dtype=np.float64):
    """``n_steps`` equal steps of the explicit Runge–Kutta method (A, b), textbook form."""
    A = np.asarray(A, dtype=dtype)
    b = np.asarray(b, dtype=dtype)
    y = np.asarray(theta0, dtype=dtype)
    h = dtype(t_end) / n_steps
    t = dtype(0)
    for _ in range(n_steps):
        K = []
        for i in range(len(b)):
            stage = y + h * sum((A[i, j] * K[j] for j in range(i)), np.zeros_like(y))
            K.append(rhs(t, stage))
        y = y + h * sum((b[j] * K[j] for j in range(len(b))), np.zeros_like(y))
        t = t + h
    return y
