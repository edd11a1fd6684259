"""The kernels' internal layout: point chunks, the scratch regions, reproducibility, vector code.

The kernels split the data points into chunks of ``layout.CHUNK`` and keep every layer feature-major inside a
chunk (see sadbench/model/layout.py). These tests check what that design must not change: results across chunk
boundaries equal the numpy oracle, the scratch does not grow with n, results do not depend on where a
member's scratch sits in memory, non-finite values reach the caller, the hot loops are vector code, and the
per-combination entry points do not re-link the compiled passes.
"""

import numpy as np
import pytest
from numba import njit

import naive
import sadbench
from sadbench.model import blocks, elementwise, layout, precision

C = layout.CHUNK
WIDTHS, BIAS = [2, 5, 6, 2], True
# n around the chunk size and a few chunks with a short last one
POINT_COUNTS = [1, C - 1, C, C + 1, 2 * C + 5]


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


def data(n, k=WIDTHS[-1], d=WIDTHS[0], seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(n, k))


@pytest.mark.parametrize("n", POINT_COUNTS)
@pytest.mark.parametrize("activation", ["tanh", "gelu"])
def test_chunked_passes_match_the_oracle(activation, n):
    net = sadbench.Network(WIDTHS, activation=activation, bias=BIAS)
    X, Y = data(n)
    theta = np.random.default_rng(1).normal(scale=0.7, size=net.num_params)
    L, g = net.loss_and_grad(theta, X, Y)
    L_ref, g_ref = naive.loss_and_grad(theta, X, Y, WIDTHS, BIAS, activation, "mse")
    assert abs(L - L_ref) <= 1e-12 * abs(L_ref)
    assert rel_err(g, g_ref) <= 1e-12
    assert rel_err(net.forward(theta, X), naive.forward(theta, X, WIDTHS, BIAS, activation)) <= 1e-13


@pytest.mark.parametrize("n", [C - 1, C + 1, 2 * C + 5])
def test_chunked_hessian_is_the_sum_over_points(n):
    """H over n points equals the point-count-weighted Hessians of the parts that straddle chunk boundaries,
    and Hv equals H·v."""
    net = sadbench.Network(WIDTHS, activation="gelu", bias=BIAS)
    X, Y = data(n, seed=2)
    theta = np.random.default_rng(3).normal(scale=0.7, size=net.num_params)
    H = net.hessian(theta, X, Y)
    cut = n // 3 + 1
    parts = [(X[:cut], Y[:cut]), (X[cut:], Y[cut:])]
    H_parts = sum(len(Xp) * net.hessian(theta, Xp, Yp) for Xp, Yp in parts) / n
    assert rel_err(H, H_parts) <= 1e-13
    assert np.array_equal(H, H.T)
    v = np.random.default_rng(4).normal(size=net.num_params)
    assert rel_err(net.hvp(theta, v, X, Y), H @ v) <= 1e-13


def test_scratch_does_not_grow_with_n_beyond_the_outputs():
    sizes = {n: layout.work_size(WIDTHS, n) for n in (C, 10 * C, 1000 * C)}
    k = WIDTHS[-1]
    assert sizes[10 * C] - sizes[C] == 9 * C * k
    assert sizes[1000 * C] - sizes[C] == 999 * C * k


def test_layout_regions_are_ordered_and_disjoint():
    widths = np.array([3, 7, 4, 2], dtype=np.int64)
    for n in (5, C, 3 * C + 1):
        offsets = layout.layout(widths, n)
        assert len(offsets) == len(layout.LAYOUT_FIELDS)
        named = dict(zip(layout.LAYOUT_FIELDS, offsets))
        starts = [named[f] for f in layout.LAYOUT_FIELDS[:-1]]  # up to "end"
        assert starts == sorted(starts) and starts[0] == 0
        c = named["chunk"]
        assert c == min(n, C)
        total, hidden, max_w = widths[1:].sum(), widths[1:-1].sum(), widths[1:].max()
        sizes = {"x": 3 * c, "y": 2 * c, "z": total * c, "a": hidden * c, "g": hidden * c, "delta": total * c,
                 "s": hidden * c, "rz": total * c, "ra": hidden * c, "rd": 2 * max_w * c, "l2": 2 * c,
                 "lv": 2 * c, "out": n * 2}
        fields = layout.LAYOUT_FIELDS[:-1]
        for name, following in zip(fields[:-1], fields[1:]):
            assert named[following] - named[name] == sizes[name], name


def test_results_do_not_depend_on_the_scratch_address():
    """Bitwise the same gradient and Hessian-vector product whatever the alignment of a member's scratch:
    the vector loops must not change their summation order with the address (runs in other processes, or
    other ensemble rows, must reproduce)."""
    net = sadbench.Network(WIDTHS, activation="gelu", bias=BIAS)
    X, Y = data(2 * C + 5, seed=5)
    theta = np.random.default_rng(6).normal(scale=0.7, size=net.num_params)
    v = np.random.default_rng(7).normal(size=net.num_params)
    kern = net.kernels("mse")
    size = layout.work_size(WIDTHS, len(X))
    widths = np.array(WIDTHS, dtype=np.int64)
    results = []
    for shift in range(8):
        buffer = np.zeros(size + 8)
        work = buffer[shift : shift + size]
        g = np.empty(net.num_params)
        hv = np.empty(net.num_params)
        L = kern.loss_grad((X, Y, widths, int(BIAS), work), theta, g, 1.0)
        kern.functions[1]((X, Y, widths, int(BIAS), work), theta, v, hv)
        results.append((L, g, hv))
    for L, g, hv in results[1:]:
        assert L == results[0][0]
        assert np.array_equal(g, results[0][1]) and np.array_equal(hv, results[0][2])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_parameters_give_a_nonfinite_loss_and_gradient(bad):
    net = sadbench.Network(WIDTHS, activation="gelu", bias=BIAS)
    X, Y = data(C + 3, seed=8)
    theta = np.random.default_rng(9).normal(scale=0.7, size=net.num_params)
    theta[3] = bad
    L, g = net.loss_and_grad(theta, X, Y)
    assert not np.isfinite(L)
    assert not np.all(np.isfinite(g))


@pytest.mark.parametrize("name", ["matmul", "outer_acc"])
def test_dense_building_blocks_are_vector_code(name):
    fn = getattr(blocks, name)
    fresh = njit(fn.signatures[0], **precision.KERNEL)(fn.py_func)  # numba cannot inspect code from its cache
    ir = fresh.inspect_llvm(fresh.signatures[0])
    assert "x double>" in ir, f"{name} has no vector instructions"


def test_entry_points_call_the_compiled_passes_without_linking_them():
    """The closures built per activation × loss call the passes through their addresses (first_class), so
    building them does not re-optimise and re-generate the passes' machine code."""
    net = sadbench.Network(WIDTHS, activation="tanh", bias=BIAS)
    rhs = net.kernels("mse").functions[0]
    ir = rhs.inspect_llvm(rhs.signatures[0])
    defined = [line for line in ir.splitlines() if line.startswith("define")]
    assert not any("propagate" in line or "backward" in line or "loss_grad_pass" in line for line in defined)


def test_activation_loop_computes_both_values_in_one_pass():
    """σ and σ′ come out of one loop equal to the scalar functions (built-ins share their exp/erfc)."""
    registry = sadbench.get_registry()
    z = np.linspace(-8.0, 8.0, 1001)
    for name in ("tanh", "gelu", "logistic", "silu", "softplus", "mish", "elu"):
        spec = registry.get("activation", name)
        fdf, d2 = elementwise.activation_loops(spec.f, spec.df, spec.d2f)
        a, g = np.empty_like(z), np.empty_like(z)
        fdf(z, a, g)
        assert np.array_equal(a, [spec.f(x) for x in z]), name
        assert np.array_equal(g, [spec.df(x) for x in z]), name
        s = np.ones_like(z)
        d2(z, s)
        assert np.array_equal(s, [spec.d2f(x) for x in z]), name
