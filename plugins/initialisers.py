"""Built-in initialisers; every one takes a seeded generator and a constant bias."""

import numpy as np

from sadbench import Initialiser, hookimpl


def _assemble(layers, weight_of, bias):
    """Concatenate per-layer weights (from ``weight_of(layer)``) and constant biases in the flat layout."""
    parts = []
    for layer in layers:
        parts.append(weight_of(layer).ravel())
        if layer.bias:
            parts.append(np.full(layer.fan_out, float(bias)))
    return np.concatenate(parts).astype(np.float64)


def xavier_uniform(layers, rng, gain=1.0, bias=0.0):
    """Glorot/Xavier uniform: U(-a, a), a = gain·sqrt(6/(fan_in+fan_out)); PyTorch's default gain 1."""

    def weight(layer):
        a = gain * np.sqrt(6.0 / (layer.fan_in + layer.fan_out))
        return rng.uniform(-a, a, size=(layer.fan_out, layer.fan_in))

    return _assemble(layers, weight, bias)


def normal(layers, rng, scale=1.0, bias=0.0):
    """N(0, scale²/fan_in) weights (LeCun normal for scale 1)."""

    def weight(layer):
        return rng.normal(0.0, scale / np.sqrt(layer.fan_in), size=(layer.fan_out, layer.fan_in))

    return _assemble(layers, weight, bias)


@hookimpl
def sadbench_register_initialisers(register):
    register(Initialiser("xavier_uniform", xavier_uniform, description="U(±gain·sqrt(6/(in+out))), bias const"))
    register(Initialiser("normal", normal, description="N(0, scale²/fan_in), bias const"))
