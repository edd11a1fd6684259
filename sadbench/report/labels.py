"""Human labels for what a report shows: parameter values and case descriptions as a reader writes them.

``network.widths`` ``[1, 10, 20, 10, 1]`` reads ``1-10-20-10-1``, ``integrator.name=dopri5`` reads ``dopri5``,
``integrator.rtol=1e-10`` reads ``rtol=1e-10``, and a data array reads ``[0.924, 1.52]`` (or ``2×1 values``),
never as raw JSON. Grouping stays on the exact values; only what is drawn and printed goes through here.
"""

import json
import re

#: Keys whose value is a name that says what it is (shown without the key).
_NAMES = ("name", "activation", "scheme", "loss", "backend", "precision")
_SHORT_LIST = 4
_WIDTHS = re.compile(r"^\[\d+(?:,\d+)+\]$")
_SETTING = re.compile(r"^([A-Za-z_][\w]*(?:\.[A-Za-z_][\w]*)+)=(\S+)$")


def _number(value):
    return format(value, ".3g") if isinstance(value, float) else str(value)


def _shape(values):
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return shape


def _flat(values):
    for v in values:
        if isinstance(v, list):
            yield from _flat(v)
        else:
            yield v


def value_text(key, value):
    """A parameter value as text: ``value`` is the Python value or its JSON text (as the analysis keeps it)."""
    if isinstance(value, str) and value[:1] in "[{" and value not in ("", "—"):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    if key.endswith("widths") and isinstance(value, list) and all(isinstance(w, int) for w in value):
        return "-".join(map(str, value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, list):
        flat = list(_flat(value))
        if len(flat) <= _SHORT_LIST and all(isinstance(v, (int, float, str)) for v in flat):
            return "[" + ", ".join(_number(v) if not isinstance(v, str) else v for v in flat) + "]"
        return "×".join(map(str, _shape(value))) + " values"
    if isinstance(value, dict):
        return ", ".join(f"{k}={value_text(k, v)}" for k, v in value.items())
    return str(value)


def key_text(key):
    """``network.activation`` -> ``activation``, ``integrator.name`` -> ``integrator``, ``target.n`` -> ``n``."""
    parts = key.split(".")
    if len(parts) > 1 and parts[-1] == "name":
        return parts[-2]
    return parts[-1]


def pair_text(key, value):
    """One setting as a reader writes it: ``gelu``, ``1-10-20-10-1``, ``rtol=1e-10``, ``n=64``."""
    text = value_text(key, value)
    if key.split(".")[-1] in _NAMES or key.endswith("widths"):
        return text
    return f"{key_text(key)}={text}"


def describe(pairs):
    """Settings ``[(key, value), ...]`` as one short line: ``gelu 1-10-20-10-1 rtol=1e-10``."""
    return " ".join(pair_text(key, value) for key, value in pairs)


def case_text(label):
    """A case label as the suite made it (``sad integrator.name=dopri5 integrator.rtol=1e-06``: the case's
    own label, then the grid values it takes) in words: ``sad dopri5 rtol=1e-06``."""
    words = []
    for word in label.split(" "):
        match = _SETTING.match(word)
        if match:
            word = pair_text(match.group(1), match.group(2))
        elif _WIDTHS.match(word):  # the widths of a label made from activation, widths and target
            word = value_text("widths", word)
        words.append(word)
    return " ".join(words)
