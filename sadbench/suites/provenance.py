"""What a stored result depends on beyond the case's own settings, and the content hash that keys it.

A result is reused only if it was computed by the same code: the sadbench version, the version of every
plugin the case names (an entry-point plugin's distribution version, a hash of a local plugin file's
bytes; built-in plugins go with the sadbench version) and the floating-point type of the gradient passes
(the case's ``precision``), and the content of every data file the case reads. All of it goes into the key, so
upgrading a plugin, editing a local plugin file or a data file makes the affected cases run again, and
float32 and float64 results are stored apart.
"""

import hashlib
import importlib.metadata
import json
from functools import lru_cache
from pathlib import Path

from sadbench import __version__
from sadbench.integrate import DEFAULT_DETECTORS
from sadbench.plugins import ENTRY_POINT_GROUP
from sadbench.specs import SPEC_TYPES
from sadbench.suites.inputs import case_files, file_digest

#: The kernels compute in float64 (docs/science.md §1) unless a case asks for ``precision: float32``; a case
#: computed in another type is another result.
DTYPE = "float64"
_FILE_SOURCE = "file "


def _names(params):
    """(kind, name) of every plugin a case's params use."""
    detectors = params["detectors"]
    if detectors == "default":
        detectors = list(DEFAULT_DETECTORS)
    named = [(next(iter(d)) if isinstance(d, dict) else d) for d in detectors or []]
    return ([("activation", params["network"]["activation"]), ("target", params["target"]["name"]),
             ("loss", params["loss"]), ("initialiser", params["init"]["scheme"]),
             ("integrator", params["integrator"]["name"])] + [("detector", name) for name in named])


@lru_cache(maxsize=None)
def _file_digest(path):
    return "sha256:" + hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


@lru_cache(maxsize=None)
def _distribution_version(plugin):
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == plugin and ep.dist is not None:
            return f"{ep.dist.name} {ep.dist.version}"
    return "unknown distribution"


def _entry(registry, kind, name):
    registry.get(kind, name)  # raises UnknownNameError for a name that is not registered
    return next(entry for entry in registry.entries(kind) if entry.spec.name == name)


def plugin_version(entry):
    """The version an :class:`~sadbench.plugins.Entry` stands for (see the module docstring)."""
    if entry.source.startswith(_FILE_SOURCE):
        return _file_digest(entry.source[len(_FILE_SOURCE):])
    if entry.source.startswith("entry point"):
        return _distribution_version(entry.plugin)
    return f"sadbench {__version__}"


def local_plugin_files(registry):
    """The local plugin files a registry was built with, so a worker process can build the same one."""
    return tuple(sorted({entry.source[len(_FILE_SOURCE):] for kind in SPEC_TYPES
                         for entry in registry.entries(kind) if entry.source.startswith(_FILE_SOURCE)}))


def provenance(params, registry, base=None, digest=file_digest):
    """The versions a case's result depends on, as a JSON-ready dict; with the suite's folder ``base``, also
    the content hashes (``digest``) of the data files the case reads (:mod:`sadbench.suites.inputs`)."""
    plugins = {f"{kind}:{name}": plugin_version(_entry(registry, kind, name)) for kind, name in _names(params)}
    origin = {"sadbench": __version__, "dtype": params.get("precision", DTYPE),
              "plugins": dict(sorted(plugins.items()))}
    files = {} if base is None else case_files(params["target"], base)
    if files:  # left out when empty, so the ids of cases that read no file are unchanged
        origin["files"] = {written: digest(path) for written, path in sorted(files.items())}
    return origin


def result_key(params, origin):
    """The content hash that keys a case in the results store: its settings and its provenance."""
    text = json.dumps({"params": params, "provenance": origin}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
