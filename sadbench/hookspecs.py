"""The hooks a sadbench plugin may implement.

Every ``sadbench_register_*`` hook receives a ``register`` callback and calls it once per thing the plugin
provides. The callback validates what it is given and raises :class:`sadbench.errors.PluginError` naming
the plugin, so a broken plugin never reaches a kernel. Hooks are called once, when the registry is built;
never inside an integration.
"""

import pluggy

hookspec = pluggy.HookspecMarker("sadbench")
hookimpl = pluggy.HookimplMarker("sadbench")


@hookspec
def sadbench_register_activations(register):
    """Provide activation functions.

    :param register: call ``register(Activation(...))`` once per activation; ``f``, ``df`` (and ``d2f``
        where it exists) must be numba-jitted scalar functions of one float64.
    """


@hookspec
def sadbench_register_losses(register):
    """Provide losses ``L = (1/n) sum_i sum_j loss(z_ij, y_ij)`` over network outputs ``z``.

    :param register: call ``register(Loss(...))`` with jitted ``value``, ``d1`` (d/dz) and ``d2``.
    """


@hookspec
def sadbench_register_targets(register):
    """Provide data sets (targets).

    :param register: call ``register(Target(name, build))``; ``build(rng, **params)`` returns ``(X, Y)``
        of shapes (n, d) and (n, k).
    """


@hookspec
def sadbench_register_initialisers(register):
    """Provide parameter initialisers.

    :param register: call ``register(Initialiser(name, init))``; ``init(layers, rng, **params)`` returns
        the flat float64 parameter vector for the given :class:`sadbench.model.network.Layer` list.
    """


@hookspec
def sadbench_register_integrators(register):
    """Provide ODE integrators for the gradient flow.

    :param register: call ``register(ExplicitRungeKutta(name, tableau))`` for a Butcher tableau, or
        ``register(Integrator(...))`` for a method with its own compiled step (see :mod:`sadbench.specs`).
    """


@hookspec
def sadbench_register_detectors(register):
    """Provide divergence/convergence detectors that read a trajectory at its saved times.

    :param register: call ``register(Detector(name, factory))``; ``factory(**params)`` returns an object
        with ``events()`` and ``assess(trace)`` (see :class:`sadbench.specs.Detector`).
    """


@hookspec
def sadbench_register_commands(cli):
    """Add commands to the ``sadbench`` command line.

    :param cli: the root ``click.Group``; call ``cli.add_command(...)`` or decorate with ``@cli.command()``.
    """
