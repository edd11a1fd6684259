"""The ``sadbench`` command line: ``run``, ``validate``, ``list``, ``plugins``, ``report``, ``plot``, ``export``
and ``compare``, plus commands from plugins; ``sadbench --version``.

User errors (:class:`~sadbench.errors.SadbenchError`) print ``error: <message>`` on stderr and exit with
code 1, without a traceback; anything else is a bug and keeps its traceback.
"""

import os
import shlex
import sys
from pathlib import Path

import click

from sadbench import __version__, open_results
from sadbench.cost import describe, estimate_suite
from sadbench.report.confusion import confusion, labels_from_store
from sadbench.errors import SadbenchError
from sadbench.results.export import FORMATS as EXPORT_FORMATS, TABLES as EXPORT_TABLES, table as read_table, write
from sadbench.suites.environment import git_state
from sadbench.suites.executors import Dask, Local
from sadbench.plugins import get_plugin_manager
from sadbench.suites.select import select_cases
from sadbench.suites.store import Store
from sadbench.report.table import cases_table, render, results_table

# The modules that bring numba (the suite loader, the runner, the registry's specs) are imported inside the
# commands that need them, so that ``sadbench --help`` starts in a fraction of a second.


class UserError(click.ClickException):
    """Shown as ``error: message`` (click's own errors say ``Error:``), exit code 1."""

    def show(self, file=None):
        click.echo(f"error: {self.format_message()}", err=True)


class _Group(click.Group):
    argv = ()

    def main(self, args=None, **extra):
        self.argv = tuple(sys.argv[1:] if args is None else args)  # what a run records as its command line
        return super().main(args=args, **extra)

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


_select = click.option("-k", "select", metavar="EXPR",
                        help="Only the cases whose id, label or dotted.key=value parameters match EXPR (pytest's -k: "
                             "substrings with and, or, not and parentheses), e.g. -k \"gelu and not rtol=1e-10\".")


def _selected(suite, expression):
    """The suite, cut to the cases ``-k expression`` selects (all without one), and its tasks."""
    from sadbench.suites.runner import plan

    tasks = plan(suite)
    if expression is None:
        return suite, tasks
    chosen = select_cases(suite, expression, [task.case_id for task in tasks])
    kept = {case.case_id for case in chosen.cases}
    return chosen, [task for task in tasks if task.case.case_id in kept]


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
@_select
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Set a suite default (dotted key, YAML value), e.g. --set integrator.rtol=1e-10 (repeatable); "
                   "cases and grid entries that set the key keep theirs.")
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="Time each case N times after one warm-up run; the results store the min and median "
                   "(1: one run, its compile time taken out).")
def run(suite, results, plugins, rerun, retry_failed, jobs, executor, scheduler, select, overrides, repeat):
    """Run every case of SUITE not yet stored and print one row per case and seed.

    --results may contain {commit}, replaced by the git commit sadbench runs from (with -dirty for
    uncommitted changes), to keep each commit's results apart for `sadbench compare`."""
    from sadbench.suites.runner import run_suite
    from sadbench.suites.suite import load_suite

    chosen = _executor(executor, jobs, scheduler)
    loaded, _ = _selected(load_suite(suite, plugins=plugins, overrides=overrides), select)
    report = run_suite(loaded, _results_dir(results), executor=chosen, rerun=rerun, retry_failed=retry_failed,
                       progress=sys.stderr, repeat=repeat, command=_command_line())
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
    """Check SUITE without running it, and show which theorems' premises hold for each case."""
    from sadbench.suites.grounds import premises_report
    from sadbench.suites.suite import load_suite

    loaded = load_suite(suite, plugins=plugins)
    click.echo(f"{suite}: ok; cases: {len(loaded.cases)}; runs (cases × seeds): {loaded.n_runs}")
    click.echo(describe(estimate_suite(loaded, cores=os.cpu_count() or 1)))
    table, warnings = premises_report(loaded)
    click.echo(table)
    for warning in warnings:
        click.echo(warning)


@click.command("list")
@_suite
@_plugins
@_select
def list_cases(suite, plugins, select):
    """Print the expanded cases of SUITE with the ids they are stored under."""
    from sadbench.suites.suite import load_suite

    click.echo(cases_table(_selected(load_suite(suite, plugins=plugins), select)[1]))


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
              help="Time to divergence, over the members with a divergent verdict: the first saved time with "
                   "||θ|| > K·||θ(0)||.")
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
@click.option("--table", type=click.Choice(EXPORT_TABLES), default="members", show_default=True,
              help="members: one row per case and seed (failed cases: one row, no seed); cases: one row per "
                   "case; series: one row per saved time. The columns of sadbench.open_results' DataFrames.")
@click.option("--out", type=click.Path(dir_okay=False), help="Output file  [default: stdout; parquet needs one]")
def export_command(results, fmt, table, out):
    """Export a table of RESULTS as Parquet, CSV or JSON lines."""
    write(read_table(open_results(results), table), fmt, out)


@click.command("compare")
@click.argument("before", type=click.Path(dir_okay=False))
@click.argument("after", type=click.Path(dir_okay=False))
@click.option("--factor", default=1.1, show_default=True, type=click.FloatRange(min=1, min_open=True),
              help="A speed ratio or an error ratio counts only beyond this factor (asv compare's --factor).")
@click.option("--rtol", default=1e-6, show_default=True, type=click.FloatRange(min=0),
              help="List cases whose L* or final L changed by more than this relative amount.")
@click.option("--only-changed", is_flag=True, help="Leave out the speed rows that did not change significantly.")
@click.option("--match", type=click.Choice(["settings", "label"]), default="settings", show_default=True,
              help="Pair cases by their settings (one suite run by two versions) or by label (one suite run "
                   "under two settings, e.g. --set integrator.name=...; the settings that differ are listed).")
def compare_command(before, after, factor, rtol, only_changed, match):
    """Compare two results files (BEFORE, AFTER): verdict changes, L* and error changes, speed ratios.

    Exits with status 1 when AFTER has a regression (a verdict lost or wrong, a failure, an error beyond
    --factor, a slowdown beyond --factor and the repeats' spread), so it can gate CI."""
    from sadbench.results.compare import compare, text

    for path in (before, after):
        if not Path(path).is_file():
            raise UserError(f"no results file at {path}")
    comparison = compare(before, after, factor=factor, rtol=rtol, match=match)
    click.echo(text(comparison, only_changed))
    if comparison.regressions:
        sys.exit(1)


def _command_line():
    root = click.get_current_context().find_root().command
    return shlex.join(["sadbench", *getattr(root, "argv", sys.argv[1:])])


def _results_dir(results):
    """``--results`` with ``{commit}`` replaced by the git commit (12 digits, ``-dirty`` if modified)."""
    if "{commit}" not in results:
        return results
    git = git_state()
    if not git:
        raise UserError("--results: {commit} needs sadbench installed from a git checkout")
    return results.replace("{commit}", git["commit"][:12] + ("-dirty" if git["dirty"] else ""))


def _version_message():
    git = git_state()
    at = f" (git {git['commit'][:12]}{', dirty' if git['dirty'] else ''})" if git else ""
    return f"sadbench {__version__}{at}"


def _print_version(ctx, param, value):
    if value and not ctx.resilient_parsing:
        click.echo(_version_message())
        ctx.exit()


def build_cli(registry=None):
    """The command group, with the commands that plugins add through ``sadbench_register_commands``."""
    version = click.Option(["--version"], is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
                           help="Print the sadbench version (and git commit, from a checkout) and exit.")
    group = _Group(name="sadbench", help="Run, compare and track experiments on neural-network gradient flows.",
                   params=[version])
    for command in (run, validate, list_cases, plugins, report, plot, export_command, compare_command):
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
