"""An initialiser plugin: He (Kaiming) normal weights N(0, 2/fan_in) and constant
biases.

``init(layers, rng, **params)`` returns the flat parameter vector: for each layer in
order, W (fan_out × fan_in, row-major), then b when the layer has biases
(``layer.bias``). Run: ``python docs/examples/initialiser_he.py``.
"""

import numpy as np

import sadbench


def he_normal(layers, rng, bias=0.0):
    parts = []
    for layer in layers:
        std = np.sqrt(2.0 / layer.fan_in)
        parts.append(rng.normal(0.0, std, size=(layer.fan_out, layer.fan_in)).ravel())
        if layer.bias:
            parts.append(np.full(layer.fan_out, float(bias)))
    return np.concatenate(parts)


@sadbench.hookimpl
def sadbench_register_initialisers(register):
    register(
        sadbench.Initialiser(
            "he_normal", he_normal, description="N(0, 2/fan_in), bias const"
        )
    )


if __name__ == "__main__":
    registry = sadbench.get_registry(paths=[__file__])
    net = sadbench.Network([1, 64, 64, 1], activation="tanh", registry=registry)
    theta = net.init(seed=0, scheme="he_normal", bias=0.1)
    W2, b2 = net.unflatten(theta)[1]
    print(
        f"P = {theta.size}; second layer: std {W2.std():.4f} "
        f"(expected {np.sqrt(2 / 64):.4f}), b = {b2[0]}"
    )
