"""benchmarks/literal_shapes.py's generated gradient computes what sadbench's passes compute, bit for bit, so
that ``gradient_speed.py --breakdown`` compares the same work. Nothing here is timed."""

from pathlib import Path

import numpy as np
import pytest

import sadbench
from sadbench.model import elementwise, layout

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def literal_shapes(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import literal_shapes

    return literal_shapes


@pytest.mark.parametrize(
    "widths, bias, activation, n",
    [([1, 16, 16, 1], True, "gelu", 64), ([2, 8, 5, 3], False, "tanh", 37), ([3, 6, 2], True, "softplus", 128)],
)
def test_literal_gradient_equals_the_passes(literal_shapes, widths, bias, activation, n):
    net = sadbench.Network(widths, activation=activation, bias=bias)
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((n, widths[0])), rng.standard_normal((n, widths[-1]))
    theta = net.init(seed=5)
    loss, grad = net.loss_and_grad(theta, X, Y)
    spec, mse = net.activation, sadbench.get_registry().get("loss", "mse")
    fdf = elementwise.activation_loops(spec.f, spec.df, spec.d2f)[0]
    terms = elementwise.loss_loop(mse.value, mse.d1, mse.d2)
    gradient = literal_shapes.literal_gradient(widths, int(bias), n)
    literal_grad = np.full(net.num_params, np.nan)
    work = np.full(layout.work_size(widths, n), np.nan)  # nothing may be read before it is written
    assert gradient(X, Y, work, theta, literal_grad, 1.0, fdf, terms) == loss
    np.testing.assert_array_equal(literal_grad, grad)


def test_literal_gradient_refuses_more_than_one_chunk(literal_shapes):
    with pytest.raises(ValueError, match="one chunk"):
        literal_shapes.literal_gradient([1, 4, 1], 1, layout.CHUNK + 1)
