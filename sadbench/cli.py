"""The ``sadbench`` command line: ``run``, ``validate``, ``list``, ``plugins``, ``report`` and ``export``, plus
commands from plugins.

User errors (:class:`~sadbench.errors.SadbenchError`) print ``error: <message>`` on stderr and exit with
code 1, without a traceback; anything else is a bug and keeps its traceback.
"""

import sys
from pathlib import Path

import click

from sadbench.report.confusion import confusion, labels_from_store
from sadbench.errors import SadbenchError
from sadbench.suites.executors import Dask, Local
from sadbench.report.export import FORMATS as EXPORT_FORMATS, TABLES, export
from sadbench.plugins import get_plugin_manager
from sadbench.suites.store import Store, open_results
from sadbench.report.table import cases_table, render, results_table

# The modules that bring numba (the suite loader, the runner, the registry's specs) are imported inside the
# commands that need them, so that ``sadbench --help`` starts in a fraction of a second.


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

_results_file = click.argument("results", type=click.Path(dir_okay=False))


def _executor(executor, jobs, scheduler):
    if executor == "local":
        if scheduler is not None:
            raise UserError("--scheduler needs --executor dask")
        return Local(jobs)
    return Dask(scheduler, jobs)


def _list_option(ctx, param, value):
    return tuple(part.strip() for part in value.split(",") if part.strip()) if value else ()


@click.command("run")
@_suite
@click.option("--results", default="results", show_default=True, type=click.Path(file_okay=False),
              help="Folder of the results files (one SQLite file per suite).")
@_plugins
@click.option("--rerun", is_flag=True, help="Run every case again, even those whose results are stored.")
@click.option("--retry-failed", is_flag=True, help="Run the cases stored as failed again.")
@click.option("-j", "--jobs", default=1, show_default=True, type=click.IntRange(min=1),
              help="Cases run at once (local processes, or LocalCluster workers with --executor dask).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="Where cases run: local processes, or a Dask cluster.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Dask scheduler (tcp://host:port); without it --executor dask starts a LocalCluster.")
def run(suite, results, plugins, rerun, retry_failed, jobs, executor, scheduler):
    """Run every case of SUITE not yet stored and print one row per case and seed."""
    from sadbench.suites.runner import run_suite
    from sadbench.suites.suite import load_suite

    chosen = _executor(executor, jobs, scheduler)
    loaded = load_suite(suite, plugins=plugins)
    report = run_suite(loaded, results, executor=chosen, rerun=rerun, retry_failed=retry_failed,
                       progress=sys.stderr)
    with Store(report.path) as store:
        click.echo(results_table(store, report.case_ids))
        failed = [row for row in store.cases(report.case_ids) if row["error"] is not None]
        expected, verdicts = labels_from_store(store, report.case_ids)
    if expected:
        click.echo(confusion(expected, verdicts).text())
    for row in failed:
        click.echo(f"case {row['label']!r} failed: {row['error']}")
    click.echo(f"results: {report.path}")
    if failed:
        raise UserError(f"{len(failed)} of {len(report.case_ids)} cases failed; tracebacks are in {report.path}")


@click.command("validate")
@_suite
@_plugins
def validate(suite, plugins):
    """Check SUITE without running it."""
    from sadbench.suites.suite import load_suite

    loaded = load_suite(suite, plugins=plugins)
    click.echo(f"{suite}: ok; cases: {len(loaded.cases)}; runs (cases × seeds): {loaded.n_runs}")


@click.command("list")
@_suite
@_plugins
def list_cases(suite, plugins):
    """Print the expanded cases of SUITE with the ids they are stored under."""
    from sadbench.suites.runner import plan
    from sadbench.suites.suite import load_suite

    click.echo(cases_table(plan(load_suite(suite, plugins=plugins))))


@click.command("plugins")
@_plugins
def plugins(plugins):
    """List every registered name by kind, with the plugin and source it came from."""
    from sadbench.plugins import get_registry
    from sadbench.specs import SPEC_TYPES

    registry = get_registry(plugins)
    rows = [(kind, entry.spec.name, entry.plugin, entry.source)
            for kind in SPEC_TYPES for entry in registry.entries(kind)]
    click.echo(render(("kind", "name", "plugin", "source"), rows))
    for plugin, message in registry.failures:
        click.echo(f"failed plugin {plugin!r}: {message}")


@click.command("report")
@_results_file
@click.option("--out", type=click.Path(file_okay=False), help="Output folder  [default: reports/<results stem>]")
@click.option("--format", "formats", default="html,md", show_default=True, callback=_list_option,
              help="Comma-separated: html, md.")
@click.option("--axes", callback=_list_option, metavar="A,B",
              help="One or two grid axes for the phase diagram (dotted keys such as network.activation,target.n); "
                   "default: the two with the most values, problem settings before integrator ones.")
@click.option("--divergence-factor", default=2.0, show_default=True, type=click.FloatRange(min=1, min_open=True),
              help="Time to divergence: the first saved time with ||θ|| > K·||θ(0)||.")
@click.option("--seed-figures/--no-seed-figures", default=True, show_default=True,
              help="Add a figure of every seed's trajectory per group (slow for big suites).")
def report(results, out, formats, axes, divergence_factor, seed_figures):
    """Write an HTML page and a Markdown file with the tables and figures of RESULTS."""
    from sadbench.report.page import write_report  # matplotlib: imported only when a report is asked for

    out = out or f"reports/{Path(results).stem}"
    for path in write_report(results, out, formats, axes, divergence_factor, seed_figures):
        click.echo(path)


@click.command("plot")
@_results_file
@click.option("--out", type=click.Path(file_okay=False), help="Output folder  [default: plots/<results stem>]")
@click.option("--group-by", default="activation", show_default=True,
              help="One figure per value of this key: a cases column or a dotted parameter path.")
def plot(results, out, group_by):
    """Plot L, ||θ||, ||∇L||, R(t) and alignment against t for every case of RESULTS (PNG and SVG)."""
    from sadbench.report.plots import plot_results  # matplotlib: imported only when plots are asked for

    for path in plot_results(results, out or f"plots/{Path(results).stem}", group_by=group_by):
        click.echo(path)


@click.command("export")
@_results_file
@click.option("--format", "fmt", type=click.Choice(EXPORT_FORMATS), required=True, help="Output format.")
@click.option("--table", type=click.Choice(TABLES), default="members", show_default=True,
              help="members: one row per case and seed (failed cases: one row, no seed); cases; series: one "
                   "row per saved time.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file  [default: stdout]")
def export_command(results, fmt, table, out):
    """Export RESULTS as CSV or JSON lines."""
    with open_results(results) as store:
        if out is None:
            export(store, table, fmt, sys.stdout)
            return
        try:
            stream = open(out, "w", newline="")
        except OSError as exc:
            raise UserError(f"cannot write {out}: {exc.strerror}") from None
        with stream:
            export(store, table, fmt, stream)


def build_cli(registry=None):
    """The command group, with the commands that plugins add through ``sadbench_register_commands``."""
    group = _Group(name="sadbench", help="Run, compare and track experiments on neural-network gradient flows.")
    for command in (run, validate, list_cases, plugins, report, plot, export_command):
        group.add_command(command)
    pm = registry.plugin_manager if registry is not None else get_plugin_manager()
    pm.hook.sadbench_register_commands(cli=group)
    return group


def main(argv=None):
    try:
        cli = build_cli()
    except SadbenchError as exc:
        UserError(str(exc)).show()
        raise SystemExit(1) from None
    cli.main(args=argv, prog_name="sadbench")
