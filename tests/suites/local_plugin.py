"""A local plugin for the suite and CLI tests: a data set, a detector, a data set that always fails, and a
command. Everything is plain Python, so loading it compiles nothing."""

import click
import numpy as np

import sadbench


def ramp(rng, n=8, slope=0.5):
    X = np.linspace(-1.0, 1.0, n)[:, None]
    return X, slope * X


def broken(rng):
    raise RuntimeError("this target is broken on purpose")


class LossBelow:
    """Calls a member converged once its final loss is below ``threshold``."""

    def __init__(self, threshold=1e-3):
        self.threshold = threshold

    def events(self):
        return {}

    def assess(self, trace):
        if trace.loss[-1] < self.threshold:
            return sadbench.Finding("loss_below", "converged", trace.t_final, {"loss": float(trace.loss[-1])})
        return None


@sadbench.hookimpl
def sadbench_register_targets(register):
    register(sadbench.Target("ramp", ramp, description="y = slope·x on a grid"))
    register(sadbench.Target("broken", broken, description="raises"))


@sadbench.hookimpl
def sadbench_register_detectors(register):
    register(sadbench.Detector("loss_below", LossBelow, description=LossBelow.__doc__))


@sadbench.hookimpl
def sadbench_register_commands(cli):
    @cli.command("ramp-info")
    def ramp_info():
        """Say hello from a plugin."""
        click.echo("ramp: y = slope·x")
