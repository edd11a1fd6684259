"""Fuzzing the boundaries: random YAML trees through the suite loader, random argument values through
``integrate`` and ``Network``. Each input either works or raises sadbench's own error with a message; an
exception of any other type (a TypeError, IndexError, ZeroDivisionError... from inside) is a bug."""

import contextlib
import math
import sys

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sadbench
from sadbench.suites.expand import CASE_KEYS
from sadbench.suites.schema import INTEGRATOR_KEYS, NETWORK_KEYS, SAVE_KEYS
from sadbench.suites.suite import TOP_KEYS, load_suite

FUZZ = settings(max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", 60)), deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

# --- the suite loader ------------------------------------------------------------------------------------

REGISTRY = sadbench.get_registry()
NAMES = sorted({name for kind in ("activation", "loss", "target", "initialiser", "integrator", "detector")
                for name in REGISTRY.names(kind)})
KEYS = sorted(set(TOP_KEYS + CASE_KEYS + NETWORK_KEYS + INTEGRATOR_KEYS + SAVE_KEYS + (
    "expr", "n", "d", "X", "Y", "path", "preset", "scheme", "count", "start", "network.activation",
    "target.n", "integrator.rtol", "seeds")))
NUMBERS = st.sampled_from([0, 1, 2, 3, -1, 0.5, 1e-8, 1e300, -1e-3, 2**63, 10**40, math.inf, -math.inf, math.nan])
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.integers(-3, 40), st.sampled_from(NAMES),
                    st.text(max_size=8), st.sampled_from(["x^2", "x1*x2", "log", "linear", "default", "cpu", "cuda",
                                                         "float32", "diverging", "1e-8", "[1, 2]"]))
KEY = st.one_of(st.sampled_from(KEYS), st.text(max_size=6))
TREES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(KEY, inner, max_size=5)), max_leaves=25)
TARGETS = st.fixed_dictionaries({"name": st.sampled_from(REGISTRY.names("target"))}, optional={
    key: st.one_of(SCALARS, TREES) for key in ("n", "d", "expr", "X", "Y", "path", "widths", "margin", "box",
                                               "sampling", "preset", "outputs", "seed", "activation")})
def mostly(valid, bad):
    """``valid`` seven times in eight, so that many draws get past the first checks to the later ones."""
    return st.one_of(*[valid] * 7, bad)


VALID_SHAPE = st.fixed_dictionaries({
    "defaults": st.fixed_dictionaries({
        "network": st.fixed_dictionaries({"widths": mostly(st.just([1, 2, 1]), TREES)}, optional={
            "activation": mostly(st.sampled_from(REGISTRY.names("activation")), SCALARS),
            "bias": mostly(st.booleans(), SCALARS)}),
        "target": mostly(st.one_of(st.just({"name": "polynomial", "expr": "x^2", "n": 4}), TARGETS), TREES),
        "horizon": mostly(st.sampled_from([1.0, 0.5]), SCALARS),
    }, optional={"integrator": st.dictionaries(st.sampled_from(INTEGRATOR_KEYS), SCALARS, max_size=4),
                 "save": st.dictionaries(st.sampled_from(SAVE_KEYS), st.one_of(SCALARS, TREES), max_size=3),
                 "seeds": TREES, "loss": SCALARS, "detectors": TREES, "expect": SCALARS, "backend": SCALARS,
                 "precision": SCALARS}),
}, optional={"grid": st.dictionaries(KEY, TREES, max_size=3), "zip": TREES,
             "name": mostly(st.just("fuzz"), SCALARS),
             "cases": mostly(st.lists(st.dictionaries(st.sampled_from(CASE_KEYS), SCALARS, max_size=3), min_size=1,
                                      max_size=3), TREES)})


def check_loads_or_refuses(tmp_path, text):
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    try:
        suite = load_suite(path, registry=REGISTRY)
    except sadbench.SadbenchError as exc:
        assert str(exc)
        return
    assert all(case.params["label"] == case.label for case in suite.cases)


@FUZZ
@given(tree=TREES)
def test_random_yaml_trees_load_or_are_refused(tmp_path, tree):
    check_loads_or_refuses(tmp_path, yaml.safe_dump(tree, allow_unicode=True))


@FUZZ
@given(tree=VALID_SHAPE)
def test_random_values_in_a_suite_shape_load_or_are_refused(tmp_path, tree):
    check_loads_or_refuses(tmp_path, yaml.safe_dump(tree, allow_unicode=True))


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list("{}[]:,-&*!|>'\"#%@` \n\tab1.e") + ["\x00", "é"]), max_size=60))
def test_random_text_loads_or_is_refused(tmp_path, text):
    check_loads_or_refuses(tmp_path, text)


# --- integrate and Network -------------------------------------------------------------------------------

NET = sadbench.Network([1, 2, 1], activation="tanh")
X = np.linspace(-1.0, 1.0, 4)[:, None]
Y = X**2
BAD = st.sampled_from([None, "x", [], {}, -1, 0, math.nan, math.inf, -math.inf, 1e300, 2**70, 1j, True,
                       np.array([1.0, 2.0]), object()])


def arrays(shape):
    """Arrays of ``shape`` (or a neighbour's) with ordinary, extreme or missing values, of varied dtypes."""
    values = st.sampled_from([0.0, 0.5, -1.0, 1.0, 1e300, -1e300, math.nan, math.inf, 1e-300])
    shapes = st.sampled_from([shape, shape[:1], (0,) + shape[1:], shape + (1,), (shape[0] + 1,) + shape[1:]])
    dtypes = st.sampled_from([np.float64, np.float32, np.int64, np.complex128, object, str])

    @st.composite
    def build(draw):
        size = draw(shapes)
        flat = draw(st.lists(values, min_size=int(np.prod(size)), max_size=int(np.prod(size))))
        dtype = draw(dtypes)
        try:
            with np.errstate(all="ignore"):  # 1e300 as float32 or int64
                return np.array(flat, dtype=np.float64).reshape(size).astype(dtype)
        except (ValueError, OverflowError, TypeError):
            return np.array(flat).reshape(size)

    return build()


def valid_mostly(valid, bad=BAD):
    return mostly(valid, bad)


VALID = {
    "loss": st.sampled_from(["mse", "mse", "exponential"]),
    "integrator": st.sampled_from(["dopri5", "rk4", "euler"]),
    "t_end": st.sampled_from([0.01, 0.5, 2.0, 1e6]),
    "rtol": st.sampled_from([1e-3, 1e-6, 0.0]),
    "atol": st.sampled_from([1e-6, 1e-9]),
    "dt": st.sampled_from([None, 0.01, 0.3, 5.0]),
    "step": st.one_of(st.none(), st.builds(sadbench.StepControl, dt_min=st.sampled_from([0.0, 1e-3]),
                                           dt_max=st.sampled_from([0.1, 1.0]))),
    "save": st.one_of(st.sampled_from(["log", "linear", [0.005, 0.01], [0.3, 0.2]]),
                      st.builds(sadbench.Save, per_decade=st.sampled_from([1, 3]), theta=st.booleans())),
    "detectors": st.sampled_from(["default", None, ["nonfinite"], [{"critical_point": {}}]]),
    "max_steps": st.sampled_from([1, 50, 1000]),
    "max_wall": st.sampled_from([0.0, 0.5]),
    "backend": st.just("cpu"),
    "precision": st.sampled_from(["float64", "float32"]),
}
INVALID = {"loss": st.just("hinge"), "integrator": st.just("nope"), "atol": st.just(0.0),
           "detectors": st.sampled_from(["unknown", [{"divergence": {"nope": 1}}], [3]])}
OPTIONS = {key: mostly(valid, st.one_of(INVALID.get(key, BAD), BAD)) for key, valid in VALID.items()}
THETA0 = st.sampled_from([NET.init(seed=0), NET.init(seed=1, ensemble=2)])


@contextlib.contextmanager
def no_unraisable():
    """Fail on an exception that could not propagate (numba prints those as "Exception ignored in ...")."""
    seen, previous = [], sys.unraisablehook
    sys.unraisablehook = seen.append
    try:
        yield
    finally:
        sys.unraisablehook = previous
    assert not seen, [f"{u.exc_type.__name__}: {u.exc_value}" for u in seen]


def integrates_or_refuses(theta0, X, Y, options):
    options.setdefault("max_wall", 0.5)  # what it runs, it runs briefly
    with no_unraisable():
        try:
            sol = sadbench.integrate(NET, theta0, X, Y, **options)
        except sadbench.SadbenchError as exc:
            assert str(exc)
            return
    assert np.all(np.atleast_1d(sol.t_final) <= sol.t[-1])


@FUZZ
@given(theta0=THETA0, options=st.fixed_dictionaries({}, optional=VALID))
def test_random_valid_options_run_or_are_refused(theta0, options):
    """Every combination of allowed values (euler at dt = 5 on the exponential loss, float32 with a tight
    rtol, one step allowed...) ends with a status, or a refusal where the values conflict."""
    integrates_or_refuses(theta0, X, Y, options)


@FUZZ
@given(theta0=mostly(THETA0, st.one_of(arrays((NET.num_params,)), arrays((2, NET.num_params)), BAD)),
       X=mostly(st.just(X), arrays((4, 1))), Y=mostly(st.just(Y), arrays((4, 1))),
       options=st.fixed_dictionaries({}, optional=OPTIONS))
def test_random_arguments_to_integrate_run_or_are_refused(theta0, X, Y, options):
    integrates_or_refuses(theta0, X, Y, options)


@FUZZ
@given(widths=mostly(st.lists(st.integers(1, 3), min_size=2, max_size=4).map(lambda w: [1] + w[1:-1] + [1]),
                     st.one_of(st.lists(st.one_of(st.integers(-2, 4), BAD), max_size=4), BAD)),
       activation=mostly(st.sampled_from(["tanh", "relu", "gelu"]), st.one_of(st.just("nope"), BAD)),
       bias=mostly(st.booleans(), BAD), seed=mostly(st.integers(0, 5), BAD),
       ensemble=mostly(st.one_of(st.none(), st.integers(1, 3)), BAD),
       X=mostly(st.just(X[:3]), arrays((3, 1))), Y=mostly(st.just(Y[:3]), arrays((3, 1))))
def test_random_arguments_to_network_work_or_are_refused(widths, activation, bias, seed, ensemble, X, Y):
    try:
        with no_unraisable():
            net = sadbench.Network(widths, activation=activation, bias=bias)
            theta = net.init(seed=seed, ensemble=ensemble)
            loss, grad = net.loss_and_grad(theta, X, Y)
    except sadbench.SadbenchError as exc:
        assert str(exc)
        return
    assert np.shape(grad) == np.shape(theta)


@pytest.mark.parametrize("widths", [[1, 10**5, 10**5, 1], [1, 2**62, 1]])
def test_a_network_too_large_to_hold_is_refused_before_allocating(widths):
    with pytest.raises(sadbench.SadbenchError, match="parameters; at most"):
        sadbench.Network(widths)


def test_an_ensemble_too_large_to_hold_is_refused_before_allocating():
    with pytest.raises(sadbench.SadbenchError, match="ensemble of 1180591620717411303424 members of 13 parameters "
                                                     "is more than 100000000 numbers"):
        sadbench.Network([1, 4, 1]).init(ensemble=2**70)
