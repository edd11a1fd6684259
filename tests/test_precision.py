"""precision="float32": the gradient passes in float32 arithmetic behind the float64 contracts (issue 5).

The references are the float64 numpy oracle (tests/naive.py) and sadbench's own float64 runs: float32 results
must agree with them at float32 level and differ from them at more than float64 level, so the option is live.
"""

import subprocess
import sys

import numpy as np
import pytest
from numba import njit

import naive
import sadbench
from sadbench.model import blocks, layout
from sadbench.model.precision import KERNEL, compile_float32
from sadbench.suites.provenance import provenance
from sadbench.suites.runner import run_suite
from sadbench.suites.store import Store
from sadbench.suites.suite import SuiteError, load_suite

C = layout.CHUNK
CANONICAL = [1, 16, 16, 1]


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


def rounded(a):
    return np.asarray(a, dtype=np.float32).astype(np.float64)


def canonical(activation="gelu", members=4):
    net = sadbench.Network(CANONICAL, activation=activation)
    X = np.linspace(-1.0, 1.0, 64)[:, None]
    return net, X, X**2, net.init(seed=0, ensemble=members)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("activation", ["tanh", "gelu", "softplus"])
def test_float32_loss_and_gradient_are_the_oracle_to_float32_rounding(activation, bias):
    """Three chunks (the last one short), three outputs: float32 level against the float64 oracle, and not
    float64 level even against the oracle on the float32-rounded θ, X, Y (the arithmetic is float32 too)."""
    widths = [2, 6, 5, 3]
    net = sadbench.Network(widths, activation=activation, bias=bias)
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(2 * C + 5, 2)), rng.normal(size=(2 * C + 5, 3))
    theta = rng.normal(scale=0.7, size=net.num_params)
    L, g = net.loss_and_grad(theta, X, Y, precision="float32")
    assert isinstance(L, float) and g.dtype == np.float64
    L_ref, g_ref = naive.loss_and_grad(theta, X, Y, widths, bias, activation, "mse")
    assert abs(L - L_ref) <= 2e-6 * L_ref
    assert rel_err(g, g_ref) <= 2e-6
    _, g_inputs = naive.loss_and_grad(rounded(theta), rounded(X), rounded(Y), widths, bias, activation, "mse")
    assert 1e-9 < rel_err(g, g_inputs) <= 2e-6
    L64, g64 = net.loss_and_grad(theta, X, Y)
    assert abs(L64 - L_ref) <= 1e-12 * L_ref and rel_err(g64, g_ref) <= 1e-12  # the default is untouched


@pytest.mark.parametrize("name", ["matmul", "outer_acc"])
def test_float32_building_blocks_are_float32_vector_code(name):
    """The float32 overloads run on float vectors and never widen to double (no promoted accumulators)."""
    compile_float32()
    fn = getattr(blocks, name)
    signature = next(s for s in fn.signatures if str(s[0].dtype) == "float32")
    fresh = njit(signature, **KERNEL)(fn.py_func)  # numba cannot inspect code from its cache
    ir = fresh.inspect_llvm(fresh.signatures[0])
    assert "x float>" in ir and "double" not in ir


def test_float32_entry_points_call_the_compiled_passes_without_linking_them():
    rhs = sadbench.Network(CANONICAL, activation="tanh").kernels("mse", "float32").functions[0]
    defined = [line for line in rhs.inspect_llvm(rhs.signatures[0]).splitlines() if line.startswith("define")]
    assert not any(name in line for line in defined for name in ("loss_grad_pass", "propagate", "backward"))


def test_float64_users_never_compile_the_float32_overloads():
    """They are compiled on the first float32 kernel, so importing sadbench costs what it did before."""
    code = ("import numpy as np, sadbench; from sadbench.model import precision; net = sadbench.Network([1, 3, 1]);"
            "net.loss_and_grad(net.init(), np.zeros((2, 1)), np.zeros((2, 1)));"
            "print(sorted({len(d.signatures) for d, _ in precision.FLOAT32_OVERLOADS}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[0, 1]"  # loss_grad_pass_f32 not compiled, every other pass for float64 only


def test_float32_rk4_ensemble_agrees_with_float64():
    net, X, Y, theta0 = canonical()
    runs = {p: sadbench.integrate(net, theta0, X, Y, integrator="rk4", dt=0.05, t_end=20.0, detectors=None,
                                  precision=p) for p in ("float64", "float32")}
    a, b = runs["float32"], runs["float64"]
    assert list(a.status) == ["success"] * 4
    assert 1e-12 < rel_err(a.theta, b.theta) <= 1e-5
    assert np.all(np.abs(a.loss - b.loss) <= 1e-5 * b.loss)
    assert np.abs(a.loss - b.loss).max() > 1e-12 * b.loss.max()
    assert a.theta.dtype == a.loss.dtype == np.float64


def test_float32_dopri5_members_take_their_own_steps():
    net, X, Y, theta0 = canonical("tanh")
    runs = {p: sadbench.integrate(net, theta0, X, Y, integrator="dopri5", t_end=100.0, rtol=1e-6, atol=1e-9,
                                  detectors=None, precision=p) for p in ("float64", "float32")}
    a, b = runs["float32"], runs["float64"]
    assert len(set(a.n_steps)) > 1  # not in lockstep
    assert np.all(np.abs(a.n_steps - b.n_steps) <= 0.05 * b.n_steps)
    assert 1e-12 < rel_err(a.theta, b.theta) <= 1e-5
    assert np.all(np.abs(a.loss_final - b.loss_final) <= 1e-5 * b.loss_final)


def test_resume_keeps_the_stored_precision(tmp_path):
    net, X, Y, theta0 = canonical(members=2)
    options = dict(integrator="rk4", dt=0.05, detectors=None)
    times = np.array([1.0, 2.5, 5.0, 7.5, 10.0])
    for precision in ("float32", "float64"):
        whole = sadbench.integrate(net, theta0, X, Y, t_end=10.0, save=times, precision=precision, **options)
        half = sadbench.integrate(net, theta0, X, Y, t_end=5.0, save=times[:3], precision=precision, **options)
        np.savez(tmp_path / "state.npz", **half.resume_state)
        with np.load(tmp_path / "state.npz") as stored:
            state = dict(stored)
        assert str(state["precision"]) == precision
        if precision == "float64":  # a state stored before the field existed continues in float64
            del state["precision"]
        resumed = sadbench.resume(state, 10.0, net=net, X=X, Y=Y, save=times[3:], detectors=None)
        assert np.array_equal(resumed.theta, whole.theta) and np.array_equal(resumed.loss, whole.loss)
        assert str(resumed.resume_state["precision"]) == precision
    with pytest.raises(sadbench.SadbenchError) as info:
        sadbench.integrate(net, None, X, Y, resume=half, t_end=10.0, save=times[3:], precision="float32", **options)
    assert str(info.value) == "precision must stay 'float64': a resumed run keeps its stored precision; got 'float32'"


@pytest.mark.parametrize("name", ["bdf", "ros34pw2", "rkc", "auto"])
def test_float32_refuses_the_stiff_integrators(name):
    net, X, Y, theta0 = canonical(members=1)
    with pytest.raises(sadbench.SadbenchError) as info:
        sadbench.integrate(net, theta0[0], X, Y, integrator=name, precision="float32")
    assert str(info.value) == (f"integrator {name!r} uses Hessian-vector products, which precision 'float32' "
                               "does not compute; use precision='float64'")


def test_float32_refuses_cuda_and_unknown_precisions():
    net, X, Y, theta0 = canonical(members=1)
    with pytest.raises(sadbench.SadbenchError) as info:
        sadbench.integrate(net, theta0, X, Y, integrator="rk4", dt=0.1, precision="float32", backend="cuda")
    assert str(info.value) == "backend 'cuda' computes in float64 only; precision 'float32' runs on backend='cpu'"
    for call in (lambda: sadbench.integrate(net, theta0, X, Y, precision="float16"),
                 lambda: net.loss_and_grad(theta0, X, Y, precision="half")):
        with pytest.raises(sadbench.SadbenchError, match="precision must be one of 'float64', 'float32', got"):
            call()


SUITE = """\
defaults:
  network: {widths: [1, 4, 1], activation: tanh}
  target: {name: polynomial, expr: "x^2", n: 16, sampling: grid}
  integrator: {name: rk4, dt: 0.1}
  horizon: 5.0
  detectors: null
"""


def test_suite_precision_is_part_of_the_case_and_its_provenance(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE + "cases:\n  - {}\n  - {precision: float64}\n  - {precision: float32}\n")
    with pytest.raises(SuiteError, match="listed twice"):  # float64 is the default: the same case
        load_suite(path)
    path.write_text(SUITE + "cases:\n  - {}\n  - {precision: float32}\n")
    suite = load_suite(path)
    default, single = suite.cases
    assert "precision" not in default.params and single.params["precision"] == "float32"
    assert default.case_id != single.case_id
    assert provenance(single.params, suite.registry)["dtype"] == "float32"
    assert provenance(default.params, suite.registry)["dtype"] == "float64"
    report = run_suite(suite, tmp_path)
    assert len(report.results) == 2 and not any(r.error for r in report.results)
    with Store(report.path) as store:
        members = {row["case_id"]: row["loss_final"] for row in store.members()}
        dtypes = {row["case_id"]: row["provenance"]["dtype"] for row in store.cases()}
    assert set(dtypes.values()) == {"float64", "float32"}
    f64, f32 = (members[next(k for k, d in dtypes.items() if d == p)] for p in ("float64", "float32"))
    assert f64 != f32 and abs(f32 - f64) <= 1e-5 * f64


def test_suite_precision_errors_name_the_key(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE + "  precision: float16\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}:7: defaults.precision: expected one of float64, float32, got 'float16'"
    path.write_text(SUITE.replace("{name: rk4, dt: 0.1}", "{name: bdf}") + "  precision: float32\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == (f"{path}:7: defaults.precision: integrator 'bdf' uses Hessian-vector products, "
                               "which float32 does not compute; use float64")
    path.write_text(SUITE + "  precision: float32\n  backend: cuda\n")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == (f"{path}:7: defaults.precision: backend cuda computes in float64 only; float32 "
                               "runs on the cpu backend")
