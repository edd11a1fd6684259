"""``sadbench run SUITE --set key=value``: a suite default overridden from the command line.

The key is a dotted path into a case (``integrator.rtol``, ``horizon``, ``network.activation``), the value
is read as YAML, like the file (``1e-10`` is a float, ``[1, 8, 1]`` a list). Each override sets that key
in the suite's ``defaults``, so the cases, grid and zip entries of the file that set the key themselves
keep their value, and the result is checked like the file: a bad value is an error that names the
``--set`` option it came from.
"""

import yaml

from sadbench.suites.document import SuiteError, parse_value, unknown_key
from sadbench.suites.expand import _nested
from sadbench.suites.schema import CASE_KEYS, Layer

#: The first element of a file path that points at a ``--set`` option instead of into the file.
SET_ORIGIN = "--set"


def parse_override(text):
    """``"integrator.rtol=1e-10"`` -> ``(("integrator", "rtol"), 1e-10, text)``; raises SuiteError."""
    key, equals, value = text.partition("=")
    key = key.strip()
    if not equals or not key:
        raise SuiteError(f"--set {text}: expected KEY=VALUE, such as integrator.rtol=1e-10")
    path = tuple(key.split("."))
    if not all(path):
        raise SuiteError(f"--set {text}: expected a dotted key path such as integrator.rtol, got {key!r}")
    if path[0] not in CASE_KEYS:
        raise SuiteError(f"--set {text}: {unknown_key(path[0], CASE_KEYS)}")
    try:
        parsed = parse_value(value)
    except yaml.YAMLError as exc:
        raise SuiteError(f"--set {text}: the value is not valid YAML ({getattr(exc, 'problem', exc)})") from None
    return path, parsed, text


class OverriddenDocument:
    """A suite :class:`~sadbench.suites.document.Document` whose defaults carry the ``--set`` values; its
    errors name the option for a value that came from one."""

    def __init__(self, doc, overrides):
        self._doc = doc
        defaults = doc.data.setdefault("defaults", {}) if isinstance(doc.data, dict) else {}
        for path, value, text in overrides:
            node = defaults
            for i, part in enumerate(path[:-1]):
                node = node.setdefault(part, {})
                if not isinstance(node, dict):
                    raise SuiteError(f"--set {text}: cannot set {'.'.join(path)}: {'.'.join(path[: i + 1])} is "
                                     f"not a mapping")
            node[path[-1]] = value
        self.layers = [Layer(_nested(path, value), (SET_ORIGIN, text), len(path))
                       for path, value, text in reversed(overrides)]

    def __getattr__(self, name):
        return getattr(self._doc, name)

    def error(self, path, message):
        if path and path[0] == SET_ORIGIN:
            inner = ".".join([path[1].partition("=")[0].strip(), *map(str, path[2:])])
            return SuiteError(f"--set {path[1]}:{f' {inner}:' if len(path) > 2 else ''} {message}")
        return self._doc.error(path, message)
