"""A command plugin: ``sadbench tableau NAME`` prints the Butcher tableau of a
registered integrator.

``sadbench_register_commands(cli)`` receives the root click group and adds commands to
it. The group is built before any ``--plugins`` option is read, so a command plugin is
installed as a package with an entry point (see the plugin guide); this file shows the
hook and runs it on its own: ``python docs/examples/command_tableau.py tableau dopri5``.
"""

import click
import numpy as np

import sadbench


@sadbench.hookimpl
def sadbench_register_commands(cli):
    @cli.command("tableau")
    @click.argument("name")
    def tableau(name):
        """Print the Butcher tableau of integrator NAME."""
        method = sadbench.get_registry().get("integrator", name)
        table = getattr(method, "tableau", None)
        if table is None:
            raise sadbench.SadbenchError(
                f"integrator {name!r} is not given by a Butcher tableau"
            )
        with np.printoptions(precision=6, suppress=True, linewidth=120):
            click.echo(f"{name}: order {table.order}, {table.stages} stages")
            click.echo(f"c = {table.c}\nA =\n{table.A}\nb = {table.b}")
            if table.b_hat is not None:
                click.echo(f"b_hat = {table.b_hat} (order {table.error_order})")


if __name__ == "__main__":
    from sadbench.cli import build_cli

    build_cli(sadbench.get_registry(paths=[__file__])).main(prog_name="sadbench")
