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
                                                               # dt_max, safety, factor_min, factor_max
                                                               # (sadbench.StepControl), max_steps and
                                                               # max_wall_time (integrate's max_wall)
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

Checked together. The integrator's settings are checked as ``sadbench.integrate`` checks them (rtol ≥ 0,
atol > 0, 0 ≤ dt_min ≤ dt_max, 0 < safety ≤ 1, 0 < factor_min < 1 < factor_max, an adaptive method's
first step dt within [dt_min, dt_max]), and each distinct target's data are built when the suite is loaded
and checked against the case: at least one point, the network's input and output sizes, finite values
(a csv's are located by file line and column), labels -1 or +1 for a classification loss. ``backend:
cuda`` needs numba-cuda (``pip install "sadbench[cuda]"``).

Left out, a case gets activation tanh, bias true, loss mse, init xavier_uniform, integrator dopri5 (with
``sadbench.integrate``'s tolerances), a log save schedule with 10 times per decade, the default detectors,
seeds [0] and no expect. Only ``network.widths``, ``target.name`` and ``horizon`` are required. A case's
label is its ``label`` followed by the grid/zip values it takes (``toy network.activation=gelu``), or
"activation widths target" when it has neither.

A suite file is refused, at its line, when it is larger than 4 MiB, nests deeper than 64 levels, has an
alias that contains itself, expands through aliases to more than 200 000 YAML nodes, or expands to more
than 100 000 cases (:mod:`sadbench.suites.document`, :mod:`sadbench.suites.expand`).

Each resolved case is a plain dict with every section filled in, label included; its ``case_id`` is a hash
of that dict (JSON, sorted keys), so an unchanged case keeps its id and its stored results. Where results are
stored, a case is keyed by that dict, the versions of the code it runs and the content of the data files it
reads (:mod:`sadbench.suites.provenance`): an edited data file makes a new case.
"""

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from sadbench.plugins import get_registry
from sadbench.suites.document import Document, SuiteError, unknown_key
from sadbench.suites.expand import expand
from sadbench.suites.overrides import OverriddenDocument, parse_override

__all__ = ["Case", "Suite", "SuiteError", "load_suite"]

TOP_KEYS = ("name", "description", "plugins", "defaults", "grid", "zip", "cases")


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


def _top(doc):
    data = doc.data if doc.data is not None else {}
    if not isinstance(data, dict):
        raise doc.error((), f"expected a mapping with keys {', '.join(TOP_KEYS)}, got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise doc.error((key,), unknown_key(key, TOP_KEYS))
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


def case_id(params):
    """A stable content hash of a resolved case."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _cases(doc, resolved):
    """The cases of ``(resolved case, file path)`` pairs, refusing a case listed twice."""
    cases, seen = [], set()
    for params, where in resolved:
        case = Case(case_id(params), params["label"], params)
        if case.case_id in seen:
            raise doc.error(where, f"case {case.label!r} is listed twice (same settings as an earlier case)")
        seen.add(case.case_id)
        cases.append(case)
    return cases


def load_suite(path, registry=None, plugins=(), overrides=()):
    """Read, check and expand the suite at ``path``; ``plugins`` are extra local plugin paths (CLI),
    ``overrides`` ``"key=value"`` texts that set suite defaults (``--set``, :mod:`sadbench.suites.overrides`).

    Raises :class:`SuiteError` at the first mistake. ``registry`` defaults to the built-in and installed
    plugins plus the suite's and the extra ones; a registry passed in is used as it is.
    """
    path = Path(path)
    if not path.is_file():
        raise SuiteError(f"{path}: no such suite file")
    doc = Document(path)
    explicit = _top(doc)
    doc = OverriddenDocument(doc, [parse_override(text) for text in overrides])
    plugin_paths = _plugin_paths(doc, path.parent) + tuple(Path(p).resolve() for p in plugins)
    if registry is None:
        registry = get_registry(plugin_paths)
    return Suite(
        name=doc.data.get("name", path.stem), description=doc.data.get("description", ""), path=path,
        registry=registry, cases=_cases(doc, expand(doc, explicit, registry, path.parent, doc.layers)),
    )
