"""The ``sadbench`` command line: ``run``, ``validate``, ``list`` and ``plugins``, plus commands from plugins.

User errors (:class:`~sadbench.errors.SadbenchError`) print ``error: <message>`` on stderr and exit with
code 1, without a traceback; anything else is a bug and keeps its traceback.
"""

import click

from sadbench.errors import SadbenchError
from sadbench.plugins import get_registry
from sadbench.runner import run_suite
from sadbench.specs import SPEC_TYPES
from sadbench.store import Store
from sadbench.suite import load_suite
from sadbench.table import cases_table, render, results_table


class UserError(click.ClickException):
    """Shown as ``error: message`` (click's own errors say ``Error:``), exit code 1."""

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SadbenchError as exc:
            raise UserError(str(exc)) from exc


_suite = click.argument("suite", type=click.Path(dir_okay=False))
_plugins = click.option(
    "--plugins", multiple=True, type=click.Path(), metavar="PATH",
    help="A local plugin file or folder, added to the suite's own (repeatable).",
)


def _progress(line):
    click.echo(line, err=True)


@click.command("run")
@_suite
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder of the results files (one SQLite file per suite).")
@_plugins
@click.option("--rerun", is_flag=True, help="Run cases again even if their results are stored.")
def run(suite, results, plugins, rerun):
    """Run every case of SUITE and print one row per case and seed."""
    loaded = load_suite(suite, plugins=plugins)
    report = run_suite(loaded, results, progress=_progress, rerun=rerun)
    case_ids = [case.case_id for case in loaded.cases]
    with Store(report.path) as store:
        click.echo(results_table(store, case_ids))
        failed = [row for row in store.cases(case_ids) if row["error"] is not None]
    for row in failed:
        click.echo(f"case {row['label']!r} failed: {row['error']}")
    click.echo(f"results: {report.path}")
    if failed:
        raise UserError(f"{len(failed)} of {len(loaded.cases)} cases failed; tracebacks are in {report.path}")


@click.command("validate")
@_suite
@_plugins
def validate(suite, plugins):
    """Check SUITE without running it."""
    loaded = load_suite(suite, plugins=plugins)
    click.echo(f"{suite}: ok; cases: {len(loaded.cases)}; runs (cases × seeds): {loaded.n_runs}")


@click.command("list")
@_suite
@_plugins
def list_cases(suite, plugins):
    """Print the expanded cases of SUITE."""
    click.echo(cases_table(load_suite(suite, plugins=plugins).cases))


@click.command("plugins")
@_plugins
def plugins(plugins):
    """List every registered name by kind, with the plugin and source it came from."""
    registry = get_registry(plugins)
    rows = [(kind, entry.spec.name, entry.plugin, entry.source)
            for kind in SPEC_TYPES for entry in registry.entries(kind)]
    click.echo(render(("kind", "name", "plugin", "source"), rows))
    for plugin, message in registry.failures:
        click.echo(f"failed plugin {plugin!r}: {message}")


def build_cli(registry=None):
    """The command group, with the commands that plugins add through ``sadbench_register_commands``."""
    group = _Group(name="sadbench", help="Run, compare and track experiments on neural-network gradient flows.")
    for command in (run, validate, list_cases, plugins):
        group.add_command(command)
    (registry or get_registry()).add_commands(group)
    return group


def main(argv=None):
    try:
        cli = build_cli()
    except SadbenchError as exc:
        UserError(str(exc)).show()
        raise SystemExit(1) from None
    cli.main(args=argv, prog_name="sadbench")
