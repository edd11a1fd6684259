"""The CUDA backend against the CPU backend and the numpy oracle.

Runs on numba-cuda's simulator (tests/conftest.py sets NUMBA_ENABLE_CUDASIM=1 unless it is set) and, with
``NUMBA_ENABLE_CUDASIM=0`` on a machine with a GPU, on the device itself. The simulator runs every thread
in Python, so the problems are tiny: [1, 3, 1] networks on four points, two members, a few dozen steps.
"""

import os
import subprocess
import sys
import threading

import naive
import numba
import numpy as np
import pytest
from conftest import plugin_registry

import sadbench
from sadbench import Network, SadbenchError, integrate
from sadbench import cuda as sc
from sadbench.cuda import geometry, translate

pytestmark = pytest.mark.skipif(not sc.available(), reason="no CUDA device (and the simulator is off)")

SIMULATED = sc.simulated()
X = np.linspace(-1.0, 1.0, 4)[:, None]
Y = X**2
RK4_A = [[0, 0, 0, 0], [0.5, 0, 0, 0], [0, 0.5, 0, 0], [0, 0, 1.0, 0]]
RK4_B = [1 / 6, 1 / 3, 1 / 3, 1 / 6]


def _both(net, theta0, layout, **options):
    """The CPU and the CUDA solution of the same call."""
    cpu = integrate(net, theta0, X, Y, **options)
    gpu = integrate(net, theta0, X, Y, backend="cuda", cuda_layout=layout, **options)
    return cpu, gpu


def _assert_same(cpu, gpu, rtol=1e-10):
    assert list(np.atleast_1d(gpu.status)) == list(np.atleast_1d(cpu.status))
    np.testing.assert_array_equal(gpu.n_steps, cpu.n_steps)
    np.testing.assert_array_equal(gpu.n_rejected, cpu.n_rejected)
    np.testing.assert_array_equal(gpu.n_grad, cpu.n_grad)
    np.testing.assert_allclose(gpu.t_final, cpu.t_final, rtol=rtol)
    scale = np.max(np.abs(cpu.theta))
    assert np.max(np.abs(gpu.theta - cpu.theta)) <= rtol * scale
    assert np.max(np.abs(gpu.grad - cpu.grad)) <= rtol * np.max(np.abs(cpu.grad)) + 1e-300
    for name in ("loss", "norm", "grad_norm", "align", "dir_cos"):
        cosine = name in ("align", "dir_cos")  # cosines: compared absolutely, they may vanish
        np.testing.assert_allclose(getattr(gpu, name), getattr(cpu, name), rtol=0 if cosine else rtol,
                                   atol=rtol if cosine else 0, equal_nan=True, err_msg=name)


@pytest.mark.parametrize("layout", ["thread", "block"])
def test_rk4_matches_cpu_and_the_oracle(layout):
    net = Network([1, 3, 1], "tanh")
    theta0 = net.init(seed=0, ensemble=2)
    cpu, gpu = _both(net, theta0, layout, integrator="rk4", dt=0.1, t_end=1.0, save=[0.5, 1.0], detectors=None)
    _assert_same(cpu, gpu)
    rhs = naive.gradient_flow_rhs(net.widths, True, "tanh", "mse", X, Y)
    for e in range(2):
        ref = naive.rk_fixed(rhs, theta0[e], 1.0, 10, RK4_A, RK4_B)
        np.testing.assert_allclose(gpu.theta[e], ref, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("multiprocessors", [1, 1000], ids=["thread-per-point", "threads-over-units"])
def test_deep_multi_output_network_in_several_chunks_of_points(monkeypatch, multiprocessors):
    """Two inputs, two hidden layers, two outputs, ten points in chunks of four (the last one partial):
    the block layout's (unit, point) work items, chunk loop and reductions against the CPU backend, with
    a thread per point (an ensemble that fills the GPU) and with threads over a layer's units too."""
    monkeypatch.setattr(geometry, "SHARED_BYTES", 600)
    monkeypatch.setattr(geometry, "multiprocessors", lambda: multiprocessors)
    net = Network([2, 3, 2, 2], "gelu")
    assert sc.chunk_points(sc.Geometry(net.widths, True), 10) == 4
    rng = np.random.default_rng(3)
    X2, Y2 = rng.normal(size=(10, 2)), rng.normal(size=(10, 2))
    theta0 = net.init(seed=1, ensemble=2)
    options = dict(integrator="bosh3", rtol=1e-4, atol=1e-4, t_end=0.3, save=[0.15, 0.3], detectors=None)
    cpu = integrate(net, theta0, X2, Y2, **options)
    for layout in ("block", "thread"):
        _assert_same(cpu, integrate(net, theta0, X2, Y2, backend="cuda", cuda_layout=layout, **options))


@pytest.mark.parametrize("layout", ["thread", "block"])
def test_a_network_without_biases_matches_cpu(layout):
    """The per-layer passes without bias parameters: a different parameter layout and no Σ δ rows."""
    net = Network([1, 3, 2, 1], "gelu", bias=False)
    theta0 = net.init(seed=2, ensemble=2)
    cpu, gpu = _both(net, theta0, layout, integrator="rk4", dt=0.1, t_end=0.5, save=[0.5], detectors=None)
    _assert_same(cpu, gpu)


@pytest.mark.parametrize("kind", ["activation", "loss"])
def test_every_registered_activation_and_loss_compiles_and_matches(kind):
    """Built-in and plugin functions alike are compiled from their Python source (on a real device)."""
    registry = plugin_registry()
    for name in registry.names(kind):
        activation, loss = (name, "mse") if kind == "activation" else ("tanh", name)
        labels = registry.get("loss", loss).labels
        net = Network([1, 2, 1], activation, registry=registry)
        theta0 = net.init(seed=4)
        targets = np.array([[1.0], [-1.0], [1.0], [1.0]]) if labels == "sign" else Y
        options = dict(loss=loss, integrator="heun", dt=0.1, t_end=0.2, save=[0.2], detectors=None)
        cpu = integrate(net, theta0, X, targets, **options)
        gpu = integrate(net, theta0, X, targets, backend="cuda", cuda_layout="thread", **options)
        np.testing.assert_allclose(gpu.theta, cpu.theta, rtol=1e-12, atol=1e-14, err_msg=f"{kind} {name}")
        np.testing.assert_allclose(gpu.loss_final, cpu.loss_final, rtol=1e-12, err_msg=f"{kind} {name}")


def test_dopri5_takes_the_cpu_steps_and_keeps_save_times():
    """Per-member adaptivity: the two members take different step sequences, each the CPU's."""
    net = Network([1, 3, 1], "gelu")
    theta0 = net.init(seed=3, ensemble=2)
    theta0[1] *= 3.0
    cpu, gpu = _both(net, theta0, "thread", integrator="dopri5", rtol=1e-9, atol=1e-9, t_end=2.0,
                     save=[0.1, 1.0, 2.0], detectors=None)
    _assert_same(cpu, gpu)
    assert cpu.n_steps[0] != cpu.n_steps[1]
    np.testing.assert_array_equal(gpu.t, [0.0, 0.1, 1.0, 2.0])


def test_plugin_activation_loss_and_tableau_run_on_cuda():
    """A plugin file's activation (softsign), loss (linear) and adaptive tableau (heun_euler)."""
    registry = plugin_registry()
    net = Network([1, 3, 1], "softsign", registry=registry)
    theta0 = net.init(seed=1, ensemble=2)
    cpu, gpu = _both(net, theta0, "thread", integrator="heun_euler", loss="linear", rtol=1e-6, atol=1e-6,
                     t_end=0.5, save=[0.5], detectors=None)
    _assert_same(cpu, gpu)


def test_status_codes_detectors_and_resume_match_cpu():
    """max_steps ends both backends at the same step; resuming the CUDA run on the CPU finishes like the
    CPU's own run, and the detectors' verdicts agree."""
    net = Network([1, 3, 1], "tanh")
    theta0 = net.init(seed=2, ensemble=2)
    options = dict(integrator="bosh3", rtol=1e-6, atol=1e-6, t_end=3.0, save=sadbench.Save("linear", per_decade=3))
    cpu, gpu = _both(net, theta0, "thread", max_steps=5, detectors=None, **options)
    assert list(gpu.status) == ["max_steps", "max_steps"]
    _assert_same(cpu, gpu)
    finished = sadbench.resume(gpu, detectors="default")
    reference = integrate(net, theta0, X, Y, detectors="default", **options)
    np.testing.assert_allclose(finished.theta, reference.theta, rtol=1e-10)
    assert [v.label for v in finished.verdict] == [v.label for v in reference.verdict]
    stopped_cpu, stopped_gpu = _both(net, theta0 * 4.0, "thread", detectors=[{"norm_threshold": {"threshold": 3.0}}],
                                     **options)
    assert list(stopped_gpu.status) == list(stopped_cpu.status) == ["stop_norm", "stop_norm"]
    _assert_same(stopped_cpu, stopped_gpu)


def test_unsupported_requests_are_refused_by_name():
    net = Network([1, 2, 1], "tanh")
    theta0 = net.init(seed=0)
    with pytest.raises(SadbenchError, match="backend must be one of 'cpu', 'cuda', got 'tpu'"):
        integrate(net, theta0, X, Y, backend="tpu", integrator="rk4", dt=0.1)
    stiff = next(name for name in net.registry.names("integrator") if not sc.supports(net.registry.get(
        "integrator", name)))
    with pytest.raises(SadbenchError, match=f"integrator '{stiff}' has no CUDA kernel"):
        integrate(net, theta0, X, Y, backend="cuda", integrator=stiff)
    with pytest.raises(SadbenchError, match="layout must be one of auto, thread, block, got 'warp'"):
        integrate(net, theta0, X, Y, backend="cuda", cuda_layout="warp", integrator="rk4", dt=0.1, t_end=0.1)
    with pytest.raises(SadbenchError, match="cuda_test is not a numba @njit function"):
        sc.device_function(lambda x: x, "cuda_test", 1)


SUITE = """
name: cuda_suite
defaults:
  network: {widths: [1, 2, 1], activation: tanh}
  target: {name: polynomial, expr: "x^2", n: 4}
  integrator: {name: rk4, dt: 0.1}
  horizon: 0.5
  save: {times: [0.5]}
  detectors: null
  seeds: [0, 1]
cases:
  - {label: gpu, backend: cuda}
  - {label: cpu}
"""


def test_a_suite_case_runs_on_the_backend_it_names(tmp_path):
    from sadbench.suites.runner import integrate_case
    from sadbench.suites.suite import SuiteError, load_suite

    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    suite = load_suite(path)
    gpu, cpu = (integrate_case(case, suite.registry, tmp_path) for case in suite.cases)
    assert suite.cases[0].params["backend"] == "cuda" and "backend" not in suite.cases[1].params
    _assert_same(cpu, gpu)
    path.write_text(SUITE.replace("backend: cuda", "backend: gpu"))
    with pytest.raises(SuiteError, match="backend: expected one of cpu, cuda, got 'gpu'"):
        load_suite(path)


BAD_PLUGIN = """
import numpy as np
from numba import njit
import sadbench

@njit
def bad(x):
    return np.sum(np.ones(3)) * x   # allocates: fine on the CPU, not in a CUDA device function

@njit
def d_bad(x):
    return np.sum(np.ones(3))

@sadbench.hookimpl
def sadbench_register_activations(register):
    register(sadbench.Activation("cuda_bad", bad, d_bad, smooth=False))
"""


@pytest.mark.skipif(SIMULATED, reason="the simulator runs Python: only a real device compiles for CUDA")
def test_a_plugin_that_cannot_compile_for_cuda_is_named(tmp_path):
    plugin = tmp_path / "cuda_bad_plugin.py"
    plugin.write_text(BAD_PLUGIN)
    net = Network([1, 2, 1], "cuda_bad", registry=sadbench.get_registry(paths=[plugin]))
    with pytest.raises(SadbenchError, match=r"activation 'cuda_bad' \(f\) cannot be compiled for CUDA: "):
        integrate(net, net.init(seed=0), X, Y, backend="cuda", integrator="rk4", dt=0.1, t_end=0.1)


def test_layout_choice(monkeypatch):
    monkeypatch.setattr(geometry, "multiprocessors", lambda: 132)  # an H100's
    small, large = sc.Geometry([1, 16, 16, 1], True), sc.Geometry([1, 200, 200, 1], True)
    tiny = sc.Geometry([1, 3, 1], True)
    assert sc.choose_layout(large, 64, 10**6) == "block"
    assert sc.choose_layout(small, 64, 10**6) == "block"  # measured: 5x faster than a thread per member
    assert sc.choose_layout(tiny, 4, 1) == "block"
    assert sc.choose_layout(tiny, 4, 10**6) == "thread"
    assert sc.chunk_points(small, 64) == 64 and sc.chunk_points(small, 3) == 4
    assert sc.block_threads(small, 64, 1) == sc.BLOCK_THREADS and sc.block_threads(tiny, 4, 1) == 16
    assert sc.block_threads(small, 64, 10**6) == 64 and sc.block_threads(tiny, 4, 10**6) == 4
    assert 8 * large.rows * (sc.chunk_points(large, 1000) + 1) <= sc.SHARED_BYTES < 8 * large.rows * 2 * (
        sc.chunk_points(large, 1000) + 1)


def test_import_needs_no_gpu_and_cuda_without_one_is_a_clear_error():
    """``import sadbench`` leaves numba.cuda alone; asking for CUDA where there is none says so."""
    code = (
        "import sys, numpy as np, sadbench\n"
        "assert 'numba.cuda' not in sys.modules, 'import sadbench imported numba.cuda'\n"
        "from sadbench import cuda\n"
        "if cuda.available(): print('has a GPU'); raise SystemExit\n"
        "net = sadbench.Network([1, 2, 1])\n"
        "try:\n"
        "    sadbench.integrate(net, net.init(), np.zeros((2, 1)), np.zeros((2, 1)), backend='cuda')\n"
        "except sadbench.SadbenchError as exc:\n"
        "    print(exc)\n"
    )
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="0")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    if result.stdout.strip() != "has a GPU":
        assert result.stdout.startswith("backend 'cuda' needs an NVIDIA GPU with a working driver")


def test_the_kernel_cache_key_covers_modules_a_plugin_reaches_by_attribute(tmp_path, monkeypatch):
    """numba-cuda keys a cached kernel by its closures' code, which misses ``module.function`` look-ups;
    sc.source_digest (part of the key) must change when such a module's source does, and only then."""
    helper, unrelated = tmp_path / "cache_key_helper.py", tmp_path / "cache_key_unrelated.py"
    helper.write_text("from numba import njit\n\n@njit\ndef scale(x):\n    return 2.0 * x\n")
    unrelated.write_text("A = 1\n")
    (tmp_path / "cache_key_user.py").write_text(
        "from numba import njit\nimport cache_key_helper\n\n@njit\ndef act(x):\n    return cache_key_helper.scale(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import cache_key_user

    before = sc.source_digest(cache_key_user.act)
    unrelated.write_text("A = 2\n")
    assert sc.source_digest(cache_key_user.act) == before
    helper.write_text(helper.read_text().replace("2.0", "3.0"))
    assert sc.source_digest(cache_key_user.act) != before


def test_a_kernel_whose_functions_do_not_pickle_is_compiled_uncached(monkeypatch):
    monkeypatch.setattr(translate, "simulated", lambda: False)
    assert sc.cacheable(sc.device_from_source(numba.njit(lambda x: 2.0 * x).py_func))
    assert not sc.cacheable(threading.Lock())


def test_a_function_without_a_source_file_has_a_digest():
    """An activation typed into a notebook cell has no file to read; its kernel is still built."""
    namespace = {"njit": numba.njit}
    exec(compile("@njit\ndef act(x):\n    return 2.0 * x\n", "<notebook cell>", "exec"), namespace)
    assert sc.source_digest(namespace["act"]) >= 0  # the kernels test ``SOURCES < 0`` as never true
