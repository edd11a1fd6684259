"""mkdocs hook: exposes the ``sadbench`` command group that ``sadbench.cli.build_cli`` assembles (with any
commands that plugins add) as ``_sadbench_cli_docs.cli``, for the mkdocs-click directive on cli.md."""

import sys
import types


def on_config(config):
    from sadbench.cli import build_cli

    module = types.ModuleType("_sadbench_cli_docs")
    module.cli = build_cli()
    sys.modules[module.__name__] = module
    return config
