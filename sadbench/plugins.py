"""The plugin manager and the registry of everything plugins provide.

Built-in plugins (the modules of ``sadbench_plugins``) are registered first, then third-party packages
through the ``sadbench`` entry-point group (set ``SADBENCH_DISABLE_PLUGIN_AUTOLOAD=1`` to skip those), then
local ``.py`` files or folders named by a suite or on the command line. Each hook implementation is called
once, with a ``register`` callback bound to that plugin, so every error names the plugin at fault.
"""

import importlib
import importlib.metadata
import importlib.util
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import pluggy

from sadbench import hookspecs
from sadbench.errors import PluginError, SadbenchError, UnknownNameError
from sadbench.specs import HOOK_OF_KIND, SPEC_TYPES

BUILTIN_PLUGINS = (
    "sadbench_plugins.activations",
    "sadbench_plugins.losses",
    "sadbench_plugins.targets",
    "sadbench_plugins.initialisers",
    "sadbench_plugins.integrators",
    "sadbench_plugins.stiff_integrators",
    "sadbench_plugins.detectors",
)
ENTRY_POINT_GROUP = "sadbench"
DISABLE_AUTOLOAD_ENV = "SADBENCH_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class Entry:
    """A registered spec and where it came from."""

    spec: object
    plugin: str
    source: str


class Registry:
    """Every registered activation, loss, target, initialiser, integrator and detector, by kind and name."""

    def __init__(self, plugin_manager, sources):
        self.plugin_manager = plugin_manager
        self._sources = sources
        self._entries = {kind: {} for kind in SPEC_TYPES}
        self._checked = set()  # id() of the specs whose check() has passed
        self.failures = []  # (plugin, message) for plugins that could not be loaded

    def register_from(self, plugin_name, kind, staged):
        """The ``register`` callback handed to one plugin's hook for one kind; it checks each spec and
        stages it in ``staged`` (committed only once all of the plugin's hooks have succeeded). The checks of
        the built-in plugins' specs compile their functions, so they wait until a spec is first used
        (:meth:`get`); a third-party spec is checked here, so that a broken plugin is named before anything
        runs."""
        expected = SPEC_TYPES[kind]

        def register(spec):
            if not isinstance(spec, expected):
                raise PluginError(
                    plugin_name, f"registered a {type(spec).__name__} where a {expected.__name__} is expected"
                )
            if plugin_name not in BUILTIN_PLUGINS:
                self._check(plugin_name, kind, spec)
            existing = self._entries[kind].get(spec.name)
            if existing is not None or any(k == kind and s.name == spec.name for k, s in staged):
                owner = existing.plugin if existing is not None else plugin_name
                raise PluginError(plugin_name, f"{kind} {spec.name!r} is already registered by plugin {owner!r}")
            staged.append((kind, spec))

        return register

    def _check(self, plugin_name, kind, spec):
        try:
            spec.check()
        except ValueError as exc:
            raise PluginError(plugin_name, f"{kind} {getattr(spec, 'name', '?')!r}: {exc}") from exc
        self._checked.add(id(spec))

    def commit(self, plugin_name, staged):
        for kind, spec in staged:
            self._entries[kind][spec.name] = Entry(spec, plugin_name, self._sources.get(plugin_name, ""))

    def get(self, kind, name):
        """The spec registered under ``name`` (checked, if it has not been yet); a spec object passed in is
        returned as it is."""
        if isinstance(name, SPEC_TYPES[kind]):
            return name
        try:
            entry = self._entries[kind][name]
        except (KeyError, TypeError):
            raise UnknownNameError(kind, name, self._entries[kind]) from None
        if id(entry.spec) not in self._checked:
            self._check(entry.plugin, kind, entry.spec)
        return entry.spec

    def names(self, kind):
        return sorted(self._entries[kind])

    def entries(self, kind):
        return [self._entries[kind][name] for name in self.names(kind)]

    def add_commands(self, cli):
        self.plugin_manager.hook.sadbench_register_commands(cli=cli)


def _import_file(path):
    """Import a plugin from a ``.py`` file under a module name derived from its absolute path."""
    path = Path(path).resolve()
    module_name = "sadbench_local_" + "_".join(path.with_suffix("").parts[1:]).replace("-", "_").replace(".", "_")
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def _local_plugin_files(paths):
    for path in paths:
        path = Path(path)
        if path.is_dir():
            yield from sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
        elif path.is_file():
            yield path
        else:
            raise SadbenchError(f"plugin path {str(path)!r} does not exist")


def _collect_plugins(pm, paths, sources, failures):
    for module_name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(module_name), name=module_name)
        sources[module_name] = "sadbench (built-in)"
    if not os.environ.get(DISABLE_AUTOLOAD_ENV):
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "unknown distribution"
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:
                failures.append((ep.name, f"failed to import {ep.value!r} ({dist}): {exc!r}"))
                continue
            sources[ep.name] = f"entry point {ep.value} ({dist})"
    for path in _local_plugin_files(paths):
        name = str(path)
        if pm.has_plugin(name):
            continue
        try:
            pm.register(_import_file(path), name=name)
        except Exception as exc:
            raise PluginError(name, f"failed to import: {exc!r}") from exc
        sources[name] = f"file {path}"


def _is_installed(sources, plugin_name):
    return sources.get(plugin_name, "").startswith("entry point")


def _check_hook_names(pm, sources, failures):
    """pluggy's check for misspelt hook names: an installed plugin that fails it is dropped, a local file
    or built-in raises."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or "?"
            if not _is_installed(sources, name):
                raise PluginError(name, str(exc)) from exc
            failures.append((name, str(exc)))
            pm.unregister(exc.plugin)


def _run_hooks(pm, registry, plugin_name):
    """Call every registration hook of one plugin; return what it registered, or raise PluginError."""
    staged = []
    for kind, hook_name in HOOK_OF_KIND.items():
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            if impl.plugin_name != plugin_name:
                continue
            try:
                impl.function(register=registry.register_from(plugin_name, kind, staged))
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(plugin_name, f"{hook_name} raised {exc!r}") from exc
    return staged


def load_plugins(paths=()):
    """(plugin manager, sources, failures): every plugin imported and checked by pluggy (hook names), none of
    its registration hooks called yet."""
    pm = pluggy.PluginManager("sadbench")
    pm.add_hookspecs(hookspecs)
    sources, failures = {}, []
    _collect_plugins(pm, paths, sources, failures)
    _check_hook_names(pm, sources, failures)
    return pm, sources, failures


def build_registry(paths=(), loaded=None):
    """Load every plugin (or take ``loaded``, from :func:`load_plugins`) and collect what it registers. A
    local plugin file or built-in that fails raises; an installed (entry-point) plugin that fails is skipped
    whole, with a warning and an entry in ``registry.failures``, and the others still load."""
    pm, sources, failures = loaded or load_plugins(paths)
    failures = list(failures)
    registry = Registry(pm, sources)
    for plugin_name, _ in pm.list_name_plugin():
        try:
            registry.commit(plugin_name, _run_hooks(pm, registry, plugin_name))
        except PluginError as exc:
            if not _is_installed(sources, plugin_name):
                raise
            failures.append((plugin_name, str(exc)))
    registry.failures.extend(failures)
    for plugin, message in failures:
        warnings.warn(f"sadbench: skipped plugin {plugin!r}: {message}", stacklevel=2)
    return registry


_LOADED = {}
_DEFAULT = {}


def _key(paths):
    return tuple(sorted(str(Path(p).resolve()) for p in paths))


def get_plugin_manager(paths=()):
    """The plugin manager with built-in and installed plugins plus the given local files: the registry's, if
    it is built, else one loaded once per set without building it (enough for the commands plugins add)."""
    key = _key(paths)
    if key in _DEFAULT:
        return _DEFAULT[key].plugin_manager
    if key not in _LOADED:
        _LOADED[key] = load_plugins(key)
    return _LOADED[key][0]


def get_registry(paths=()):
    """The registry with built-in and installed plugins plus the given local files, built once per set (its
    specs are checked at registration, the built-in ones on first use: :meth:`Registry.get`)."""
    key = _key(paths)
    if key not in _DEFAULT:
        _DEFAULT[key] = build_registry(key, _LOADED.pop(key, None))
    return _DEFAULT[key]
