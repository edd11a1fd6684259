"""Registration compares every activation's σ′ with finite differences of σ, and σ″ with those of σ′, on a
grid out to |x| = 50, and the same for losses in z: a derivative that is wrong only in the tails is
refused, by the plugin's name, before anything runs; the built-in plugins pass."""

import textwrap

import pytest

import sadbench
from sadbench.specs import _PROBE_POINTS

HEAD = """
import math
from numba import njit
from sadbench import Activation, Loss, hookimpl


@njit
def tanh(x):
    return math.tanh(x)


@njit
def d_tanh(x):
    return 1.0 - math.tanh(x) ** 2


@njit
def d2_tanh(x):
    t = math.tanh(x)
    return -2.0 * t * (1.0 - t * t)
"""


def plugin(tmp_path, name, body):
    path = tmp_path / f"{name}.py"
    path.write_text(HEAD + textwrap.dedent(body))
    return path


def refusal(path):
    with pytest.raises(sadbench.PluginError) as info:
        sadbench.plugins.build_registry([path])
    assert info.value.plugin == str(path)
    return str(info.value)


def test_the_grid_reaches_the_tails_on_both_sides():
    assert _PROBE_POINTS.min() < -49 and _PROBE_POINTS.max() > 49 and (abs(_PROBE_POINTS) < 0.1).any()


def test_builtin_activations_and_losses_pass(tmp_path):
    registry = sadbench.plugins.build_registry()
    assert {"tanh", "logistic", "softplus", "gelu", "silu", "mish", "elu", "relu", "leaky_relu", "identity"} <= set(
        registry.names("activation"))
    assert {"mse", "logistic", "exponential"} <= set(registry.names("loss"))


def test_a_derivative_wrong_only_beyond_3_is_refused(tmp_path):
    path = plugin(tmp_path, "tails", """
        @njit
        def d_tails(x):
            return 1.0 - math.tanh(x) ** 2 if abs(x) <= 3.0 else 0.0  # "the tails do not matter"

        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("tails", tanh, d_tails, d2_tanh))
        """)
    assert refusal(path).startswith(f"plugin {str(path)!r}: activation 'tails': df disagrees with a finite "
                                    "difference at -3.6: 0.0 vs 0.0029")


def test_a_second_derivative_wrong_only_in_the_far_tails_is_refused(tmp_path):
    """logistic″ ≈ e^-|x| is 1.7e-6 at |x| = 13.3: a σ″ that is 0 beyond 10 is caught there."""
    path = plugin(tmp_path, "far", """
        @njit
        def logistic(x):
            return 0.5 * (1.0 + math.tanh(0.5 * x))

        @njit
        def d_logistic(x):
            e = math.exp(-abs(x))
            return e / (1.0 + e) ** 2

        @njit
        def d2_far(x):
            e = math.exp(-abs(x))
            s = 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)
            return d_logistic(x) * (1.0 - 2.0 * s) if abs(x) < 10.0 else 0.0

        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("far", logistic, d_logistic, d2_far))
        """)
    assert refusal(path).startswith(f"plugin {str(path)!r}: activation 'far': d2f disagrees with a finite "
                                    "difference at -13.3")


def test_naive_softplus_passes(tmp_path):
    """log(1 + e^x) is 0 for x < -37 while its derivative is not: exact to eps, which is all a difference
    quotient can see; it is accepted."""
    path = plugin(tmp_path, "naive", """
        @njit
        def softplus(x):
            return math.log(1.0 + math.exp(x))

        @njit
        def logistic(x):
            return 1.0 / (1.0 + math.exp(-x))

        @njit
        def d_logistic(x):
            return logistic(x) * (1.0 - logistic(x))

        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("naive_softplus", softplus, logistic, d_logistic))
        """)
    assert "naive_softplus" in sadbench.plugins.build_registry([path]).names("activation")


def test_an_activation_that_overflows_in_the_tails_is_refused(tmp_path):
    path = plugin(tmp_path, "overflow", """
        @njit
        def naive_softplus(x):
            return math.log(1.0 + math.exp(x * 20.0)) / 20.0  # exp overflows once x > 35.5

        @njit
        def d_naive(x):
            return math.exp(x * 20.0) / (1.0 + math.exp(x * 20.0))

        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("overflow", naive_softplus, d_naive))
        """)
    assert refusal(path).startswith(f"plugin {str(path)!r}: activation 'overflow': df or the function it "
                                    "differentiates is not finite near 37.7: nan, inf, inf")


def test_a_loss_derivative_wrong_only_for_large_margins_is_refused(tmp_path):
    path = plugin(tmp_path, "loss", """
        @njit
        def value(z, y):
            return math.log1p(math.exp(-abs(y * z))) + max(-y * z, 0.0)

        @njit
        def d1(z, y):
            m = y * z
            return -y / (1.0 + math.exp(m)) if abs(m) < 5.0 else (-y if m < 0 else 0.0)

        @njit
        def d2(z, y):
            e = math.exp(-abs(y * z))
            return y * y * e / (1.0 + e) ** 2

        @hookimpl
        def sadbench_register_losses(register):
            register(Loss("clipped", value, d1, d2, labels="sign"))
        """)
    assert refusal(path).startswith(f"plugin {str(path)!r}: loss 'clipped': d1 disagrees with a finite difference "
                                    "at -5.3")
