"""``sadbench.Network``: the architecture, its flat parameter layout, and the loss/gradient entry point."""

from dataclasses import dataclass

import numpy as np

from sadbench.errors import SadbenchError
from sadbench.jit import over_threads
from sadbench.model import data
from sadbench.model.kernels import gradient_kernels, loss_grad_members
from sadbench.model.layout import work_size
from sadbench.model.precision import PRECISIONS
from sadbench.options import OptionError, integer
from sadbench.plugins import get_registry


@dataclass(frozen=True)
class Layer:
    """One affine layer in the flat layout: W (fan_out × fan_in) at ``offset``, then b if ``bias``."""

    fan_in: int
    fan_out: int
    bias: bool
    offset: int

    @property
    def size(self):
        return self.fan_out * (self.fan_in + int(self.bias))


class Network:
    """A fully connected network ``widths = [d, h1, ..., k]`` with ``activation`` after every hidden layer
    and a linear output layer (docs/science.md §1)."""

    def __init__(self, widths, activation="tanh", bias=True, registry=None):
        if not isinstance(widths, (list, tuple, np.ndarray)) or len(widths) < 2 or not all(
                _is_size(w) for w in widths):
            raise OptionError("widths", f"must list at least two positive sizes, got {widths!r}")
        if not isinstance(bias, (bool, np.bool_)):
            raise OptionError("bias", f"must be True or False, got {bias!r}")
        widths = [int(w) for w in widths]
        count = parameter_count(widths, bias)
        if count > MAX_PARAMETERS:
            raise OptionError("widths", f"{widths} give {count} parameters; at most {MAX_PARAMETERS}")
        self.registry = registry or get_registry()
        self.widths = tuple(widths)
        self.activation = self.registry.get("activation", activation)
        self.bias = bool(bias)
        layers, offset = [], 0
        for fan_in, fan_out in zip(widths[:-1], widths[1:]):
            layers.append(Layer(fan_in, fan_out, self.bias, offset))
            offset += layers[-1].size
        self.layers = tuple(layers)
        self.num_params = offset
        self._widths_array = np.array(widths, dtype=np.int64)

    def __repr__(self):
        return f"Network(widths={list(self.widths)}, activation={self.activation.name!r}, bias={self.bias})"

    @property
    def input_dim(self):
        return self.widths[0]

    @property
    def output_dim(self):
        return self.widths[-1]

    def init(self, seed=0, scheme="xavier_uniform", ensemble=None, **params):
        """Initial parameters (P,), or (E, P) for ``ensemble=E`` with seeds ``seed, seed+1, ...``."""
        initialiser = self.registry.get("initialiser", scheme)
        initialiser.check_params(params)

        def one(s):
            theta = np.asarray(initialiser.init(self.layers, np.random.default_rng(s), **params), np.float64)
            if theta.shape != (self.num_params,):
                raise SadbenchError(
                    f"initialiser {initialiser.name!r} returned shape {theta.shape}, "
                    f"expected ({self.num_params},)"
                )
            return theta

        seed = integer("seed", seed, low=0)
        if ensemble is None:
            return one(seed)
        ensemble = integer("ensemble", ensemble)
        if ensemble * self.num_params > MAX_PARAMETERS:
            raise OptionError("ensemble", f"of {ensemble} members of {self.num_params} parameters is more than "
                                          f"{MAX_PARAMETERS} numbers")
        return np.stack([one(seed + e) for e in range(ensemble)])

    def unflatten(self, theta):
        """The list of ``(W, b)`` views of one parameter vector (``b`` is None without biases)."""
        theta = np.asarray(theta)
        out = []
        for layer in self.layers:
            n_w = layer.fan_out * layer.fan_in
            W = theta[layer.offset : layer.offset + n_w].reshape(layer.fan_out, layer.fan_in)
            b = theta[layer.offset + n_w : layer.offset + layer.size] if layer.bias else None
            out.append((W, b))
        return out

    def kernels(self, loss="mse", precision="float64"):
        """The compiled kernels of this activation and ``loss``; ``precision`` is that of the gradient passes
        (:func:`check_precision`)."""
        return gradient_kernels(self.activation, self.registry.get("loss", loss), check_precision(precision))

    def check_data(self, X, Y):
        """Contiguous, writeable float64 (n, d) and (n, k) arrays matching the architecture, with n ≥ 1 and
        finite values (:func:`sadbench.model.data.check_data`)."""
        return data.check_data(X, Y, self.input_dim, self.output_dim)

    def check_theta(self, theta, name="theta"):
        """Contiguous float64 (E, P) parameters with E ≥ 1, and whether the caller passed a single vector (a
        member with a non-finite value is not refused: it ends with status "nonfinite", the others run on)."""
        theta = data.real_array(name, theta)
        if theta.ndim not in (1, 2) or theta.shape[-1] != self.num_params:
            raise SadbenchError(
                f"{name} must have shape ({self.num_params},) or (E, {self.num_params}), got {theta.shape}"
            )
        if theta.shape[0] == 0:
            raise SadbenchError(f"{name} has shape {theta.shape}: an ensemble needs at least one member")
        return np.require(np.atleast_2d(theta), np.float64, ["C", "W"]), theta.ndim == 1

    def problem_arrays(self, X, n_members):
        """The constant part of the kernels' problem tuple and a scratch row per member."""
        work = np.zeros((n_members, work_size(self.widths, X.shape[0])))
        return self._widths_array, int(self.bias), work

    def loss_and_grad(self, theta, X, Y, loss="mse", precision="float64"):
        """L and ∇L for one vector (P,) → (float, (P,)) or an ensemble (E, P) → ((E,), (E, P)), float64 arrays
        whatever the ``precision`` of the passes ("float32": rounded θ, float32 arithmetic)."""
        X, Y = self.check_data(X, Y)
        thetas, single = self.check_theta(theta)
        kernels = self.kernels(loss, precision)
        widths, bias, work = self.problem_arrays(X, len(thetas))
        grads = np.empty_like(thetas)
        losses = np.empty(len(thetas))
        over_threads(loss_grad_members, len(thetas), kernels.loss_grad, X, Y, widths, bias, work, thetas, grads, losses)
        if single:
            return float(losses[0]), grads[0]
        return losses, grads

    def hvp(self, theta, v, X, Y, loss="mse"):
        """Exact Hessian-vector product ∇²L(θ)·v for one parameter vector (needs the activation's σ″)."""
        X, Y = self.check_data(X, Y)
        prob, thetas = self._single_problem(theta, X, Y)
        out = np.empty(self.num_params)
        self.kernels(loss).functions[1](prob, thetas[0], np.ascontiguousarray(v, dtype=np.float64), out)
        return out

    def hessian(self, theta, X, Y, loss="mse"):
        """Exact dense Hessian ∇²L(θ), (P, P), for one parameter vector (needs the activation's σ″)."""
        X, Y = self.check_data(X, Y)
        prob, thetas = self._single_problem(theta, X, Y)
        H = np.empty((self.num_params, self.num_params))
        self.kernels(loss).functions[2](prob, thetas[0], H)
        return H

    def _single_problem(self, theta, X, Y):
        thetas, single = self.check_theta(theta)
        if not single:
            raise SadbenchError("pass one parameter vector (P,) for Hessians")
        widths, bias, work = self.problem_arrays(X, 1)
        return (X, Y, widths, bias, work[0]), thetas

    def forward(self, theta, X):
        """Network outputs (n, k) for one parameter vector."""
        X, _ = self.check_data(X, np.zeros((len(X), self.output_dim)))
        thetas, _ = self.check_theta(theta)
        widths, bias, work = self.problem_arrays(X, 1)
        return self.kernels().forward(thetas[0], X, widths, bias, work[0]).copy()


#: Most parameters a network, or an ensemble of its parameter vectors, may have (800 MB of float64).
MAX_PARAMETERS = 100_000_000


def parameter_count(widths, bias):
    """P, the length of the flat parameter vector of ``widths`` (the layout of docs/science.md §1)."""
    return sum(fan_out * (fan_in + int(bias)) for fan_in, fan_out in zip(widths[:-1], widths[1:]))


def _is_size(width):
    try:
        integer("width", width)
    except OptionError:
        return False
    return True


def check_precision(precision):
    """``precision`` if it is one the gradient passes are compiled for (float64, float32), else a clear error."""
    if not isinstance(precision, str) or precision not in PRECISIONS:
        raise SadbenchError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, got {precision!r}")
    return precision
