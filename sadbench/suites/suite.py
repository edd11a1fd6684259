"""Suites: YAML files describing a set of gradient-flow experiments, checked and expanded into cases.

A suite is checked completely before anything runs, and every mistake is reported as
``FILE:LINE: KEY.PATH: message`` pointing at the line that caused it. The format::

    name: quickstart            # default: the file's stem; names the results file
    description: ...
    plugins: [my_plugin.py]     # local plugin files or folders, relative to the suite file
    defaults:                   # every case starts from these (deep-merged)
      network: {widths: [1, 16, 16, 1], activation: tanh, bias: true}
      target: {name: polynomial, expr: "x^2", n: 64, seed: 0}   # seed: data seed (default 0);
                                                                # other keys go to the target
      loss: mse
      init: {scheme: xavier_uniform, gain: 1.0}                # other keys go to the initialiser
      integrator: {name: dopri5, rtol: 1.0e-8, atol: 1.0e-8}  # or {name: rk4, dt: 0.05}; also dt_min,
                                                               # dt_max, max_steps, max_wall_time,
                                                               # safety, factor_min, factor_max
      horizon: 1.0e4                                           # t_end (required)
      save: {schedule: log, per_decade: 10, t_first: 0.01}    # or {schedule: linear, per_decade: N}
                                                               # or {times: [...]}
      detectors: default        # or null, or a list of names / {name: {params}}
      seeds: [0, 1, 2]          # or {count: 20, start: 0}; the seeds run together as one ensemble
      expect: diverging         # optional: converged | diverging | directional | undecided | failed
      backend: cuda             # optional, default cpu: cuda runs explicit Runge–Kutta on a GPU
      precision: float32        # optional, default float64: the gradient passes' arithmetic (cpu,
                                # non-stiff integrators); float64 is left out of the resolved case,
                                # so writing it keeps the case's id
    grid:                       # cartesian product over dotted key paths
      network.activation: [tanh, gelu]
    zip:                        # each group: equal-length lists varied together, one axis of the product
      - {network.widths: [[1, 8, 1], [1, 16, 1]], target.n: [32, 64]}
    cases:                      # explicit cases, each deep-merged over defaults; default [{}]
      - {label: toy, network: {widths: [1, 1, 1], bias: false}}

Every explicit case is combined with every point of the grid × zip product, so a suite has
len(cases) × Π len(grid axis) × Π len(zip group) cases; each case's seeds are its ensemble members.

Merging rules. Mappings merge key by key, other values replace. A case mapping that switches
``target.name``, ``init.scheme``, ``integrator.name`` or the kind of ``save`` (times, log, linear) replaces
the default mapping instead of merging into it, so the old plugin's parameters do not leak into the new
one. A dotted grid/zip key (``target.n``) sets exactly that key; an undotted one (``target``) merges like
a case. A ``path`` parameter of a target is read relative to the suite file. Numbers such as ``1e-8`` are
read as floats (YAML 1.2), not as strings.

Left out, a case gets activation tanh, bias true, loss mse, init xavier_uniform, integrator dopri5 (with
``sadbench.integrate``'s tolerances), a log save schedule with 10 times per decade, the default detectors,
seeds [0] and no expect. Only ``network.widths``, ``target.name`` and ``horizon`` are required. A case's
label is its ``label`` followed by the grid/zip values it takes (``toy network.activation=gelu``), or
"activation widths target" when it has neither.

Each resolved case is a plain dict with every section filled in, label included; its ``case_id`` is a hash
of that dict (JSON, sorted keys), so an unchanged case keeps its id and its stored results.
"""

import copy
import difflib
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from sadbench.errors import SadbenchError, UnknownNameError
from sadbench.model.precision import PRECISIONS
from sadbench.plugins import get_registry
from sadbench.verdicts.verdict import LABELS

TOP_KEYS = ("name", "description", "plugins", "defaults", "grid", "zip", "cases")
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

# The key that picks a section's variant; a case that changes it replaces the section (module docstring).
_VARIANT = {
    "target": lambda m: m.get("name"),
    "init": lambda m: m.get("scheme"),
    "integrator": lambda m: m.get("name"),
    "save": lambda m: "times" if "times" in m else m.get("schedule"),
}


class SuiteError(SadbenchError):
    """A suite that cannot run; the message starts with ``FILE:LINE: KEY.PATH:``."""


class _Loader(yaml.SafeLoader):
    """The safe loader, reading ``1e-8`` as a float like YAML 1.2 instead of as a string."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


@dataclass(frozen=True)
class Case:
    """One resolved experiment: ``params`` holds every section; ``seeds`` are its ensemble members."""

    case_id: str
    label: str
    params: dict

    @property
    def seeds(self):
        return self.params["seeds"]


@dataclass(frozen=True)
class Suite:
    """A checked suite: its cases, the registry they were checked against, and where it came from."""

    name: str
    description: str
    path: Path
    registry: object
    cases: list

    @property
    def n_runs(self):
        return sum(len(case.seeds) for case in self.cases)


class _Document:
    """The parsed file: its data, the line of every key path, and ``FILE:LINE: KEY.PATH:`` errors."""

    def __init__(self, path):
        self.file = str(path)
        text = Path(path).read_text()
        try:
            node = yaml.compose(text, Loader=_Loader)
            self.data = yaml.load(text, Loader=_Loader)
        except yaml.YAMLError as exc:
            raise SuiteError(_yaml_message(self.file, exc)) from None
        self.lines = {}
        if node is not None:
            self._index(node, ())

    def _index(self, node, path):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                child = path + (key.value,)
                self.lines[child] = key.start_mark.line + 1
                if key.value in seen:
                    raise self.error(child, "duplicate key")
                seen.add(key.value)
                self._index(value, child)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[path + (i,)] = item.start_mark.line + 1
                self._index(item, path + (i,))

    def line(self, path):
        for n in range(len(path), 0, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return 1

    def name(self, path):
        """``cases[toy].network.widths``: list items by index, explicit cases by their label."""
        out = ""
        for i, part in enumerate(path):
            if isinstance(part, int):
                label = self._label(part) if path[:i] == ("cases",) else None
                out += f"[{label if label is not None else part}]"
            else:
                out += f".{part}" if out else str(part)
        return out

    def _label(self, index):
        cases = self.data.get("cases") if isinstance(self.data, dict) else None
        if isinstance(cases, list) and index < len(cases) and isinstance(cases[index], dict):
            label = cases[index].get("label")
            return label if isinstance(label, str) else None
        return None

    def error(self, path, message):
        where = f" {self.name(path)}:" if path else ""
        return SuiteError(f"{self.file}:{self.line(path)}:{where} {message}")


def _yaml_message(file, exc):
    mark = getattr(exc, "problem_mark", None)
    if mark is None:
        return f"{file}:1: invalid YAML: {exc}"
    message = f"{file}:{mark.line + 1}: invalid YAML: {exc.problem}"
    context_mark = getattr(exc, "context_mark", None)
    if exc.context and context_mark is not None and context_mark.line != mark.line:
        message += f" ({exc.context} started on line {context_mark.line + 1})"
    return message


def _unknown_key(key, valid):
    message = f"unknown key {key!r}; valid: {', '.join(sorted(valid))}"
    close = difflib.get_close_matches(str(key), valid, n=1)
    return message + (f" (did you mean {close[0]!r}?)" if close else "")


class _Layer:
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


class _Checker:
    """Checks one resolved case; errors point at the layer (highest precedence first) that set the value."""

    def __init__(self, doc, layers, root, registry):
        self.doc, self.layers, self.root, self.registry = doc, layers, root, registry

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
                raise self.error(path + (key,), _unknown_key(key, valid))

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

    def integer(self, value, path, strict=True):
        ok = isinstance(value, int) and not isinstance(value, bool) and (value > 0 if strict else value >= 0)
        self.require(ok, path, "a positive integer" if strict else "a non-negative integer", value)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_case(case, ck):
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
    _check_precision(case, ck)


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


def _switches(variant, old, new):
    """Whether ``new`` names a different plugin or save kind than ``old``; then it replaces ``old``."""
    before, after = variant(old), variant(new)
    return before is not None and after is not None and before != after


def _merge(base, over, variants=_VARIANT):
    """``over`` deep-merged onto ``base``; a section switching its variant replaces instead (module doc)."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        variant = variants.get(key)
        if isinstance(old, dict) and isinstance(value, dict) and not (variant and _switches(variant, old, value)):
            out[key] = _merge(old, value, {})
        else:
            out[key] = copy.deepcopy(value)
    return out


def _nested(path, value):
    for part in reversed(path):
        value = {part: value}
    return value


def _apply(case, override, doc):
    """Set one grid/zip value: a dotted key sets exactly that key, an undotted one merges like a case."""
    path, value, origin = override
    if len(path) == 1:
        return _merge(case, {path[0]: value})
    node = case
    for i, part in enumerate(path[:-1]):
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise doc.error(origin[:-1], f"cannot set {'.'.join(path)}: {'.'.join(path[: i + 1])} is not a mapping")
    node[path[-1]] = copy.deepcopy(value)
    return case


def _axes(doc):
    """The grid and zip axes: each a list of points, each point a list of (key path, value, file path)."""
    data = doc.data
    axes = []
    grid = data.get("grid") or {}
    if not isinstance(grid, dict):
        raise doc.error(("grid",), f"expected a mapping of key paths to lists, got {grid!r}")
    for key, values in grid.items():
        path = _key_path(doc, ("grid", key), key)
        if not isinstance(values, list):
            raise doc.error(("grid", key), f"expected a list of values, got {values!r}")
        if not values:
            raise doc.error(("grid", key), "empty list: a grid axis needs at least one value")
        axes.append([[(path, v, ("grid", key, j))] for j, v in enumerate(values)])
    groups = data.get("zip") or []
    if not isinstance(groups, list):
        raise doc.error(("zip",), f"expected a list of groups, got {groups!r}")
    for g, group in enumerate(groups):
        if not isinstance(group, dict) or not group:
            raise doc.error(("zip", g), f"expected a mapping of key paths to equal-length lists, got {group!r}")
        for key, values in group.items():
            if not isinstance(values, list) or not values:
                raise doc.error(("zip", g, key), f"expected a non-empty list of values, got {values!r}")
        lengths = {key: len(values) for key, values in group.items()}
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{key} has {n}" for key, n in lengths.items())
            raise doc.error(("zip", g), f"lists of unequal length: {listed}")
        paths = {key: _key_path(doc, ("zip", g, key), key) for key in group}
        n = next(iter(lengths.values()))
        axes.append([[(paths[key], group[key][j], ("zip", g, key, j)) for key in group] for j in range(n)])
    return axes


def _key_path(doc, origin, key):
    if not isinstance(key, str) or not all(key.split(".")):
        raise doc.error(origin, f"expected a dotted key path such as network.activation, got {key!r}")
    path = tuple(key.split("."))
    if path[0] not in CASE_KEYS:
        raise doc.error(origin, _unknown_key(path[0], CASE_KEYS))
    return path


def _short(value):
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def _label(case, combo):
    varied = [f"{'.'.join(path)}={_short(value)}" for path, value, _ in combo if path != ("label",)]
    parts = [case["label"]] if "label" in case else []
    if parts or varied:
        return " ".join(parts + varied)
    network = case["network"]
    return f"{network['activation']} {_short(network['widths'])} {case['target']['name']}"


def case_id(params):
    """A stable content hash of a resolved case."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _top(doc):
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise doc.error((), f"expected a mapping with keys {', '.join(TOP_KEYS)}, got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise doc.error((key,), _unknown_key(key, TOP_KEYS))
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            raise doc.error((key,), f"expected a string, got {data[key]!r}")
    if not isinstance(data.get("defaults", {}), dict):
        raise doc.error(("defaults",), f"expected a mapping, got {data['defaults']!r}")
    cases = data.get("cases", [{}])
    if not isinstance(cases, list) or not cases:
        raise doc.error(("cases",), f"expected a non-empty list of cases, got {cases!r}")
    for i, case in enumerate(cases):
        if not isinstance(case, dict):
            raise doc.error(("cases", i), f"expected a mapping, got {case!r}")
    doc.data = data
    return cases


def _plugin_paths(doc, base):
    plugins = doc.data.get("plugins", [])
    if not isinstance(plugins, list):
        raise doc.error(("plugins",), f"expected a list of files or folders, got {plugins!r}")
    paths = []
    for i, entry in enumerate(plugins):
        path = base / str(entry)
        if not path.exists():
            raise doc.error(("plugins", i), f"plugin path {str(entry)!r} does not exist (relative to {base})")
        paths.append(path.resolve())
    return tuple(paths)


def _expand(doc, explicit, registry):
    """Every explicit case × every grid/zip point, resolved and checked, in file order."""
    defaults = doc.data.get("defaults", {})
    in_file = "cases" in doc.data
    axes = _axes(doc)
    cases, seen = [], set()
    for i, explicit_case in enumerate(explicit):
        root = ("cases", i) if in_file else ("defaults",)
        layers = [_Layer(explicit_case, root)] if in_file else []
        layers.append(_Layer(defaults, ("defaults",)))
        merged = _merge(_merge(BASE, defaults), explicit_case)
        for point in itertools.product(*axes):
            combo = [override for group in point for override in group]
            resolved = copy.deepcopy(merged)
            for override in combo:
                resolved = _apply(resolved, override, doc)
            overrides = [_Layer(_nested(p, v), origin, len(p)) for p, v, origin in reversed(combo)]
            _check_case(resolved, _Checker(doc, overrides + layers, root, registry))
            resolved["label"] = _label(resolved, combo)
            case = Case(case_id(resolved), resolved["label"], resolved)
            if case.case_id in seen:
                where = combo[-1][2] if combo else root
                raise doc.error(where, f"case {case.label!r} is listed twice (same settings as an earlier case)")
            seen.add(case.case_id)
            cases.append(case)
    return cases


def load_suite(path, registry=None, plugins=()):
    """Read, check and expand the suite at ``path``; ``plugins`` are extra local plugin paths (CLI).

    Raises :class:`SuiteError` at the first mistake. ``registry`` defaults to the built-in and installed
    plugins plus the suite's and the extra ones; a registry passed in is used as it is.
    """
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    doc = _Document(path)
    explicit = _top(doc)
    plugin_paths = _plugin_paths(doc, path.parent) + tuple(Path(p).resolve() for p in plugins)
    if registry is None:
        registry = get_registry(plugin_paths)
    return Suite(
        name=doc.data.get("name", path.stem), description=doc.data.get("description", ""), path=path,
        registry=registry, cases=_expand(doc, explicit, registry),
    )
