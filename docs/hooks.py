"""mkdocs hooks that fill pages from sadbench itself, so that they cannot drift from the code:

- the ``sadbench`` command group that ``sadbench.cli.build_cli`` assembles (with any commands plugins add)
  is exposed as ``_sadbench_cli_docs.cli`` for the mkdocs-click directive on cli.md;
- ``<!-- sadbench:builtin-plugins -->`` on a page becomes tables of the registered plugins, with their
  descriptions and parameters (suites.md).
"""

import inspect
import sys
import types

MARKER = "<!-- sadbench:builtin-plugins -->"
_SKIP = {"target": 1, "initialiser": 2, "detector": 0}  # leading arguments that are not suite parameters
_TITLES = {"activation": "Activations (`network.activation`)", "loss": "Losses (`loss`)",
           "target": "Targets (`target.name`)", "initialiser": "Initialisers (`init.scheme`)",
           "integrator": "Integrators (`integrator.name`)", "detector": "Detectors (`detectors`)"}


def on_config(config):
    from sadbench.cli import build_cli

    module = types.ModuleType("_sadbench_cli_docs")
    module.cli = build_cli()
    sys.modules[module.__name__] = module
    return config


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def _yaml(value):
    """A default as a suite would write it: true, null, [1, 8, 1]."""
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, float) and abs(value) >= 1e5:
        return f"{value:.1e}"  # 1.0e+06, as suites write it
    return repr(value) if isinstance(value, str) else str(value)


def _parameters(fn, skip):
    params = list(inspect.signature(fn).parameters.values())[skip:]
    shown = [p.name if p.default is p.empty else f"{p.name}: {_yaml(p.default)}"
             for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return ", ".join(f"`{s}`" for s in shown) or "—"


def _properties(kind, spec):
    if kind == "activation":
        flags = [flag for flag in ("smooth", "sad", "homogeneous") if getattr(spec, flag)]
        return ", ".join(flags + (["σ″"] if spec.d2f is not None else [])) or "—"
    if kind == "loss":
        return f"labels: {spec.labels}"
    if kind == "integrator":
        parts = [f"order {spec.order}", "adaptive" if spec.adaptive else "fixed step (needs dt)"]
        return ", ".join(parts + (["stiff"] if spec.stiff else []))
    return _parameters({"target": getattr(spec, "build", None), "initialiser": getattr(spec, "init", None),
                        "detector": getattr(spec, "factory", None)}[kind], _SKIP[kind])


def builtin_plugin_tables():
    from sadbench.plugins import get_registry
    from sadbench.specs import SPEC_TYPES

    registry = get_registry()
    out = []
    for kind in SPEC_TYPES:
        header = "parameters" if kind in _SKIP else "properties"
        out += [f"### {_TITLES[kind]}", "", f"| name | description | {header} |", "|---|---|---|"]
        for entry in registry.entries(kind):
            spec = entry.spec
            out.append(f"| `{spec.name}` | {_cell(spec.description)} | {_cell(_properties(kind, spec))} |")
        out.append("")
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files):
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, builtin_plugin_tables())
    return markdown
