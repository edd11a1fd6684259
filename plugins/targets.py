"""Built-in data sets (targets)."""

from sadbench import Target, hookimpl


@hookimpl
def sadbench_register_targets(register):
    pass
