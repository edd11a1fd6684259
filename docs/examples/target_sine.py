"""A target plugin: y = sin(frequency·π·x) on n points of [-1, 1], uniform or on a grid.

``build(rng, **params)`` receives a seeded numpy Generator (the suite's ``target.seed``)
and the target's parameters; its keyword parameters are the keys a suite may give
(others are refused, naming the target). Run: ``python docs/examples/target_sine.py``.
"""

import numpy as np

import sadbench


def sine(rng, n=64, frequency=1.0, sampling="uniform"):
    if sampling == "grid":
        x = np.linspace(-1.0, 1.0, int(n))
    elif sampling == "uniform":
        x = rng.uniform(-1.0, 1.0, size=int(n))
    else:
        raise ValueError(f"sampling must be 'uniform' or 'grid', got {sampling!r}")
    X = x[:, None]
    return X, np.sin(frequency * np.pi * X)


@sadbench.hookimpl
def sadbench_register_targets(register):
    register(sadbench.Target("sine", sine, description="sin(frequency·π·x) on [-1, 1]"))


if __name__ == "__main__":
    registry = sadbench.get_registry(paths=[__file__])
    X, Y = registry.get("target", "sine")(seed=0, n=5, frequency=0.5, sampling="grid")
    print(np.column_stack([X, Y]))
