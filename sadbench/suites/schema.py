"""The rules a resolved case must satisfy (the format is in :mod:`sadbench.suites.suite`): its keys, the
plugins it names and their parameters, numbers and their ranges; errors point at the file line that set the
faulty value."""

import json
import math

from sadbench.errors import SadbenchError, UnknownNameError
from sadbench.model.data import check_data, check_values
from sadbench.model.network import MAX_PARAMETERS, parameter_count
from sadbench.model.precision import PRECISIONS
from sadbench.options import STEP_FIELDS, OptionError, StepControl, backend as usable_backend, tolerances
from sadbench.solvers.schedule import save_times
from sadbench.suites.document import unknown_key
from sadbench.suites.inputs import case_data
from sadbench.verdicts.verdict import LABELS

CASE_KEYS = ("label", "network", "target", "loss", "init", "integrator", "horizon", "save", "detectors",
             "seeds", "expect", "backend", "precision")
BACKENDS = ("cpu", "cuda")
NETWORK_KEYS = ("widths", "activation", "bias")
INTEGRATOR_KEYS = ("name", "dt", "rtol", "atol", "dt_min", "dt_max", "max_steps", "max_wall_time", "safety",
                   "factor_min", "factor_max")
SAVE_KEYS = ("schedule", "per_decade", "t_first", "times")
SEEDS_KEYS = ("count", "start")

# What every case starts from, before the suite's defaults.
BASE = {
    "network": {"activation": "tanh", "bias": True},
    "loss": "mse",
    "init": {"scheme": "xavier_uniform"},
    "integrator": {"name": "dopri5"},
    "save": {},
    "detectors": "default",
    "seeds": [0],
    "expect": None,
}


class Layer:
    """One source of a resolved case's values (defaults, a case, a grid entry) and where it sits in the file."""

    def __init__(self, data, origin, depth=0):
        self.data, self.origin, self.depth = data, origin, depth

    def find(self, path):
        """The file path of ``path`` if this layer sets it, else None."""
        node = self.data
        for part in path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                node = node[part]
            else:
                return None
        return self.origin + tuple(path[self.depth:])


class Checker:
    """Checks one resolved case; errors point at the layer (highest precedence first) that set the value."""

    def __init__(self, doc, layers, root, registry, base=".", built=None):
        self.doc, self.layers, self.root, self.registry = doc, layers, root, registry
        self.base = base  # the suite's folder: a target's path is relative to it
        self.built = {} if built is None else built  # the data of each target section checked so far

    def locate(self, path):
        for n in range(len(path), 0, -1):
            for layer in self.layers:
                found = layer.find(path[:n])
                if found is not None:
                    return found
        return self.root

    def error(self, path, message):
        return self.doc.error(self.locate(path), message)

    def require(self, ok, path, what, value):
        if not ok:
            raise self.error(path, f"expected {what}, got {value!r}")

    def section(self, case, key, valid=None):
        """The mapping ``case[key]``, its keys checked against ``valid`` when given."""
        value = self.present(case, key, ())
        self.require(isinstance(value, dict), (key,), "a mapping", value)
        if valid is not None:
            self.keys(value, valid, (key,))
        return value

    def keys(self, mapping, valid, path):
        for key in mapping:
            if key not in valid:
                raise self.error(path + (key,), unknown_key(key, valid))

    def present(self, mapping, key, path):
        if key not in mapping:
            raise self.error(path, f"missing key {key!r}")
        return mapping[key]

    def lookup(self, kind, name, path):
        try:
            return self.registry.get(kind, name)
        except UnknownNameError as exc:
            raise self.error(path, str(exc)) from None

    def params(self, spec, params, path):
        try:
            spec.check_params(params)
        except UnknownNameError as exc:
            raise self.error(path + (exc.name,), str(exc)) from None

    def number(self, value, path, strict=True, finite=False):
        """A positive (``strict``) or non-negative number, finite if asked."""
        ok = _is_number(value) and (value > 0 if strict else value >= 0) and (not finite or math.isfinite(value))
        self.require(ok, path, "a positive number" if strict else "a non-negative number", value)

    def option(self, check, value, path):
        """``check(value)`` of :mod:`sadbench.options`, its OptionError at ``path``."""
        try:
            return check(value)
        except OptionError as exc:
            raise self.error(path, exc.problem) from None

    def integer(self, value, path, strict=True):
        ok = isinstance(value, int) and not isinstance(value, bool) and (value > 0 if strict else value >= 0)
        self.require(ok, path, "a positive integer" if strict else "a non-negative integer", value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_case(case, ck):
    """Check a resolved case and complete it in place: ``seeds`` given as {count, start} become a list,
    the data seed defaults to 0 and a save schedule to 10 log-spaced times per decade."""
    ck.keys(case, CASE_KEYS, ())
    if "label" in case:
        ck.require(isinstance(case["label"], str), ("label",), "a string", case["label"])
    _check_network(ck.section(case, "network", NETWORK_KEYS), ck)
    _check_plugin_section(case, "target", "name", ck)
    ck.integer(case["target"].setdefault("seed", 0), ("target", "seed"), strict=False)
    ck.lookup("loss", case["loss"], ("loss",))
    _check_plugin_section(case, "init", "scheme", ck)
    _check_integrator(ck.section(case, "integrator", INTEGRATOR_KEYS), ck)
    ck.number(ck.present(case, "horizon", ()), ("horizon",), finite=True)
    _check_save(ck.section(case, "save", SAVE_KEYS), case["horizon"], ck)
    _check_detectors(case["detectors"], ck)
    case["seeds"] = _seeds(case["seeds"], ck)
    if case["expect"] is not None and case["expect"] not in LABELS:
        raise ck.error(("expect",), f"expected one of {', '.join(LABELS)}, got {case['expect']!r}")
    if case.get("backend", "cpu") not in BACKENDS:
        raise ck.error(("backend",), f"expected one of {', '.join(BACKENDS)}, got {case['backend']!r}")
    ck.option(usable_backend, case.get("backend", "cpu"), ("backend",))
    _check_precision(case, ck)
    _check_data(case, ck)


def _check_precision(case, ck):
    """float32 only where it can run (see ``sadbench.integrate``); the default, float64, is dropped."""
    precision = case.pop("precision", "float64")
    if precision not in PRECISIONS:
        raise ck.error(("precision",), f"expected one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "float64":
        return
    method = ck.lookup("integrator", case["integrator"]["name"], ("integrator", "name"))
    if method.second_order or method.stiff:
        raise ck.error(("precision",), f"integrator {method.name!r} uses Hessian-vector products, which "
                                       f"float32 does not compute; use float64")
    if case.get("backend", "cpu") == "cuda":
        raise ck.error(("precision",), "backend cuda computes in float64 only; float32 runs on the cpu backend")
    case["precision"] = precision


def _check_network(network, ck):
    widths = ck.present(network, "widths", ("network",))
    ok = isinstance(widths, list) and len(widths) >= 2 and all(
        isinstance(w, int) and not isinstance(w, bool) and w >= 1 for w in widths
    )
    ck.require(ok, ("network", "widths"), "a list of at least two positive integers", widths)
    ck.lookup("activation", network["activation"], ("network", "activation"))
    ck.require(isinstance(network["bias"], bool), ("network", "bias"), "true or false", network["bias"])
    count = parameter_count(widths, network["bias"])
    if count > MAX_PARAMETERS:
        raise ck.error(("network", "widths"), f"{widths} give {count} parameters; at most {MAX_PARAMETERS}")


def _check_plugin_section(case, key, selector, ck):
    """A section that names a plugin by ``selector``; every other key except a target's seed is its parameter."""
    section = ck.section(case, key)
    spec = ck.lookup(key if key != "init" else "initialiser", ck.present(section, selector, (key,)), (key, selector))
    ck.params(spec, {k: v for k, v in section.items() if k != selector and (key, k) != ("target", "seed")}, (key,))


def _check_integrator(integrator, ck):
    method = ck.lookup("integrator", integrator["name"], ("integrator", "name"))
    for key in ("dt", "rtol", "atol", "dt_max", "max_wall_time", "safety", "factor_min", "factor_max"):
        if key in integrator:
            ck.number(integrator[key], ("integrator", key))
    if "dt_min" in integrator:
        ck.number(integrator["dt_min"], ("integrator", "dt_min"), strict=False)
    if "max_steps" in integrator:
        ck.integer(integrator["max_steps"], ("integrator", "max_steps"))
    if not method.adaptive and "dt" not in integrator:
        raise ck.error(("integrator", "name"), f"integrator {method.name!r} is fixed-step: give integrator.dt")
    _check_step_control(integrator, method, ck)


def _check_step_control(integrator, method, ck):
    """The settings together, as ``sadbench.integrate`` checks them: tolerances, StepControl's ranges and
    orderings (``dt_min ≤ dt_max``, ``factor_min < 1 < factor_max``, ``0 < safety ≤ 1``), and an adaptive
    method's first step within [dt_min, dt_max]; the error points at the key named."""
    try:
        tolerances(integrator.get("rtol", 1e-6), integrator.get("atol", 1e-9))
        step = StepControl(**{key: integrator[key] for key in STEP_FIELDS if key in integrator})
        if method.adaptive and "dt" in integrator:
            step.check_first_step(integrator["dt"])
    except OptionError as exc:
        raise ck.error(("integrator", exc.key), exc.problem) from None


def _check_save(save, horizon, ck):
    if "times" in save:
        if len(save) > 1:
            raise ck.error(("save", "times"), "give either times or schedule/per_decade/t_first, not both")
        times = save["times"]
        ok = isinstance(times, list) and times and all(_is_number(t) and 0 < t <= horizon for t in times)
        ok = ok and all(a < b for a, b in zip(times, times[1:]))
        ck.require(ok, ("save", "times"), f"an increasing list of times in (0, horizon={horizon:g}]", times)
        return
    save.setdefault("schedule", "log")
    save.setdefault("per_decade", 10)
    if save["schedule"] not in ("log", "linear"):
        raise ck.error(("save", "schedule"), f"expected 'log' or 'linear', got {save['schedule']!r}")
    ck.integer(save["per_decade"], ("save", "per_decade"))
    try:
        save_times(save["schedule"], horizon, save["per_decade"], save.get("t_first"))
    except SadbenchError as exc:
        raise ck.error(("save", "per_decade"), str(exc)) from None
    if "t_first" in save:
        ck.number(save["t_first"], ("save", "t_first"))


def _check_detectors(detectors, ck):
    if detectors is None or detectors == "default":
        return
    ck.require(isinstance(detectors, list), ("detectors",), "'default', null or a list of detectors", detectors)
    for i, item in enumerate(detectors):
        path = ("detectors", i)
        if isinstance(item, str):
            ck.lookup("detector", item, path)
            continue
        ck.require(isinstance(item, dict) and len(item) == 1, path, "a name or a {name: {params}} mapping", item)
        (name, params), = item.items()
        params = {} if params is None else params
        ck.require(isinstance(params, dict), path + (name,), "a mapping of parameters", params)
        ck.params(ck.lookup("detector", name, path + (name,)), params, path + (name,))


def _seeds(seeds, ck):
    if isinstance(seeds, dict):
        ck.keys(seeds, SEEDS_KEYS, ("seeds",))
        count = ck.present(seeds, "count", ("seeds",))
        ck.integer(count, ("seeds", "count"))
        start = seeds.get("start", 0)
        ck.integer(start, ("seeds", "start"), strict=False)
        return list(range(start, start + count))
    ok = isinstance(seeds, list) and seeds and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds
    ) and len(set(seeds)) == len(seeds)
    ck.require(ok, ("seeds",), "a list of distinct non-negative integers or {count, start}", seeds)
    return seeds


def _check_data(case, ck):
    """Build the case's data once per distinct target section and check them against the network and the
    loss: at least one point, the widths' input and output sizes, finite values, ±1 labels for a
    classification loss. A target that refuses its input (a missing file, a bad expression: a
    SadbenchError) is reported at its line; one that fails otherwise (a bug in a plugin) is left to the run,
    which stores the case as failed with its traceback and goes on with the others."""
    target, network = case["target"], case["network"]
    key = json.dumps(target, sort_keys=True, default=str)
    if key not in ck.built:
        try:
            ck.built[key] = case_data(target, ck.registry, ck.base)
        except SadbenchError as exc:
            raise ck.error(("target",), str(exc)) from None
        except Exception:
            ck.built[key] = None
    if ck.built[key] is None:
        return
    X, Y = ck.built[key]
    loss = ck.lookup("loss", case["loss"], ("loss",))
    try:
        X, Y = check_data(X, Y, network["widths"][0], network["widths"][-1])
        if loss.labels == "sign":
            check_values("Y", Y, labels="sign", loss=loss.name)
    except SadbenchError as exc:
        raise ck.error(("target",), f"the data of target {target['name']!r}: {exc}") from None
