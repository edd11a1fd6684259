"""Expansion of a suite into cases: defaults, explicit cases and grid/zip points merged by the rules of
:mod:`sadbench.suites.suite`, each resolved case checked and labelled."""

import copy
import itertools
import json
import math

from sadbench.suites.document import unknown_key
from sadbench.suites.schema import BASE, CASE_KEYS, Checker, Layer, check_case

#: Most cases one suite may expand to (grid axes multiply: a few long ones are a lot of cases).
MAX_CASES = 100_000

# The key that picks a section's variant; a case that changes it replaces the section (the merging rules in
# :mod:`sadbench.suites.suite`).
_VARIANT = {
    "target": lambda m: m.get("name"),
    "init": lambda m: m.get("scheme"),
    "integrator": lambda m: m.get("name"),
    "save": lambda m: "times" if "times" in m else m.get("schedule"),
}


def _switches(variant, old, new):
    """Whether ``new`` names a different plugin or save kind than ``old``; then it replaces ``old``."""
    before, after = variant(old), variant(new)
    return before is not None and after is not None and before != after


def _merge(base, over, variants=_VARIANT):
    """``over`` deep-merged onto ``base``; a section switching its variant replaces instead (the merging
    rules in :mod:`sadbench.suites.suite`)."""
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
        raise doc.error(origin, unknown_key(path[0], CASE_KEYS))
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


def expand(doc, explicit, registry, base, set_layers=()):
    """Every explicit case × every grid/zip point, resolved, checked and labelled, in file order: pairs of
    (resolved case, the file path it comes from). ``base`` is the suite's folder (target paths);
    ``set_layers`` locate the defaults that ``--set`` gave (:mod:`sadbench.suites.overrides`)."""
    defaults = doc.data.get("defaults", {})
    in_file = "cases" in doc.data
    axes = _axes(doc)
    total = len(explicit) * math.prod(len(axis) for axis in axes)
    if total > MAX_CASES:
        raise doc.error(("grid",) if "grid" in doc.data else ("zip",) if axes else ("cases",),
                        f"the suite expands to {total} cases; at most {MAX_CASES} fit in one suite")
    built = {}  # the data of each distinct target, built once
    for i, explicit_case in enumerate(explicit):
        root = ("cases", i) if in_file else ("defaults",)
        layers = [Layer(explicit_case, root)] if in_file else []
        layers += [*set_layers, Layer(defaults, ("defaults",))]
        merged = _merge(_merge(BASE, defaults), explicit_case)
        for point in itertools.product(*axes):
            combo = [override for group in point for override in group]
            resolved = copy.deepcopy(merged)
            for override in combo:
                resolved = _apply(resolved, override, doc)
            overrides = [Layer(_nested(p, v), origin, len(p)) for p, v, origin in reversed(combo)]
            check_case(resolved, Checker(doc, overrides + layers, root, registry, base, built))
            resolved["label"] = _label(resolved, combo)
            yield resolved, combo[-1][2] if combo else root
