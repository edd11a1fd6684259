"""Plugins from outside sadbench: a local plugin file, an installed third-party package found through the
``sadbench`` entry-point group, and broken plugins, whose errors must name the plugin and the reason.
"""

import importlib.metadata
import re
import textwrap
import tomllib
import warnings

import naive
import numpy as np
import pytest
from conftest import PLUGIN_FILE, THIRDPARTY_DIR
from scipy.integrate import solve_ivp

import sadbench
import sadbench.plugins

BUILTIN_SOURCE = "sadbench (built-in)"

X = np.array([[-1.0], [0.3], [1.2]])
Y = np.array([[0.5], [-0.4], [0.8]])
WIDTHS = [1, 3, 1]


def rel_err(a, b):
    return np.linalg.norm(np.asarray(a) - np.asarray(b)) / np.linalg.norm(b)


def check_gradient_and_flow(net, activation, integrator, dt, t_end=1.0, rtol=None):
    """Gradient against the oracle, then an end-to-end integration against scipy on the oracle."""
    theta0 = np.random.default_rng(4).normal(size=net.num_params)
    L, g = net.loss_and_grad(theta0, X, Y)
    L_ref, g_ref = naive.loss_and_grad(theta0, X, Y, WIDTHS, True, activation, "mse")
    assert L == pytest.approx(L_ref, rel=1e-12) and rel_err(g, g_ref) <= 1e-12
    np.testing.assert_allclose(net.forward(theta0, X), naive.forward(theta0, X, WIDTHS, True, activation), rtol=1e-13)
    kw = dict(dt=dt) if dt is not None else dict(rtol=rtol, atol=1e-12)
    sol = sadbench.integrate(net, theta0, X, Y, integrator=integrator, t_end=t_end, detectors=None, **kw)
    assert sol.status == "success" and sol.integrator == integrator
    ref = solve_ivp(naive.gradient_flow_rhs(WIDTHS, True, activation, "mse", X, Y), (0.0, t_end), theta0,
                    method="DOP853", rtol=1e-12, atol=1e-12)
    assert sol.loss[-1] < 0.9 * sol.loss[0]
    return rel_err(sol.theta, ref.y[:, -1])


# ---------------------------------------------------------------------------------------------------------
# (a) a local plugin file


@pytest.fixture(scope="module")
def local_registry():
    return sadbench.get_registry(paths=[PLUGIN_FILE])


def test_local_file_adds_names_with_their_source(local_registry):
    plugin = str(PLUGIN_FILE)
    entries = {(k, e.spec.name): e for k in ("activation", "loss", "integrator") for e in local_registry.entries(k)}
    for kind, name in [("activation", "softsign"), ("loss", "linear"), ("integrator", "ralston3"),
                       ("integrator", "rk38"), ("integrator", "heun_euler")]:
        entry = entries[kind, name]
        assert entry.plugin == plugin
        assert entry.source == f"file {PLUGIN_FILE}"
    assert entries["activation", "tanh"].source == BUILTIN_SOURCE
    assert local_registry.get("integrator", "heun_euler").adaptive
    assert not local_registry.get("integrator", "ralston3").adaptive
    # cached per set of paths; the default registry does not see the file
    assert sadbench.get_registry(paths=[PLUGIN_FILE]) is local_registry
    with pytest.raises(sadbench.UnknownNameError, match="unknown activation 'softsign'"):
        sadbench.get_registry().get("activation", "softsign")


def test_local_folder_loads_its_files():
    registry = sadbench.get_registry(paths=[PLUGIN_FILE.parent])
    assert "softsign" in registry.names("activation")
    assert {"ralston3", "rk38", "heun_euler"} <= set(registry.names("integrator"))


def test_missing_plugin_path_is_an_error(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(sadbench.SadbenchError, match=f"plugin path '{missing}' does not exist"):
        sadbench.get_registry(paths=[missing])


@pytest.mark.parametrize("integrator, dt, rtol, tolerance", [
    ("ralston3", 0.01, None, 1e-5),
    ("rk38", 0.02, None, 1e-6),
    ("heun_euler", None, 1e-8, 1e-5),
])
def test_local_plugin_end_to_end(local_registry, integrator, dt, rtol, tolerance):
    net = sadbench.Network(WIDTHS, activation="softsign", bias=True, registry=local_registry)
    assert net.activation.name == "softsign" and not net.activation.smooth
    assert check_gradient_and_flow(net, "softsign", integrator, dt, rtol=rtol) <= tolerance


# ---------------------------------------------------------------------------------------------------------
# (b) a third-party package discovered through the "sadbench" entry-point group


def write_dist_info(root, pyproject):
    """What ``pip install`` would leave in site-packages, from the package's pyproject.toml."""
    project = tomllib.loads(pyproject.read_text())["project"]
    name, version = project["name"], project["version"]
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines.extend(f"{key} = {value}" for key, value in points.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return name, version, project["entry-points"]["sadbench"]


@pytest.fixture
def fresh_registries(monkeypatch):
    """get_registry() rebuilds instead of returning the registries cached by other tests (restored after)."""
    monkeypatch.setattr(sadbench.plugins, "_DEFAULT", {})
    monkeypatch.delenv(sadbench.plugins.DISABLE_AUTOLOAD_ENV, raising=False)


@pytest.fixture
def installed_thirdparty(tmp_path, monkeypatch, fresh_registries):
    """The demo package importable and its distribution metadata on sys.path, as after installation."""
    monkeypatch.syspath_prepend(str(THIRDPARTY_DIR))
    site = tmp_path / "site-packages"
    site.mkdir()
    name, version, points = write_dist_info(site, THIRDPARTY_DIR / "pyproject.toml")
    monkeypatch.syspath_prepend(str(site))
    return name, version, points


def test_entry_point_metadata_is_discoverable(installed_thirdparty):
    points = importlib.metadata.entry_points(group="sadbench")
    assert [(ep.name, ep.value) for ep in points] == [("myplugin", "sadbench_thirdparty_demo")]


def test_thirdparty_plugin_is_loaded_with_its_source(installed_thirdparty):
    name, version, points = installed_thirdparty
    assert points == {"myplugin": "sadbench_thirdparty_demo"}
    registry = sadbench.get_registry()
    assert registry.failures == []
    source = f"entry point sadbench_thirdparty_demo ({name} {version})"
    for kind, spec_name in [("activation", "arctan"), ("integrator", "ssprk3")]:
        (entry,) = [e for e in registry.entries(kind) if e.spec.name == spec_name]
        assert entry.plugin == "myplugin"
        assert entry.source == source
    assert "tanh" in registry.names("activation") and "dopri5" in registry.names("integrator")


def test_thirdparty_plugin_end_to_end(installed_thirdparty):
    registry = sadbench.get_registry()
    net = sadbench.Network(WIDTHS, activation="arctan", bias=True, registry=registry)
    assert check_gradient_and_flow(net, "arctan", "ssprk3", 0.01) <= 1e-5
    tab = registry.get("integrator", "ssprk3").tableau
    assert sadbench.solvers.tableau.attained_order(tab.A, tab.b) == tab.order == 3


def test_autoload_can_be_switched_off(installed_thirdparty, monkeypatch):
    monkeypatch.setenv(sadbench.plugins.DISABLE_AUTOLOAD_ENV, "1")
    registry = sadbench.get_registry()
    assert "arctan" not in registry.names("activation")
    assert "tanh" in registry.names("activation")


def fake_entry_points(monkeypatch, *points):
    """Entry points as sadbench.plugins sees them (it calls importlib.metadata.entry_points(group=...))."""
    eps = [importlib.metadata.EntryPoint(name=name, value=value, group="sadbench") for name, value in points]

    def entry_points(**params):
        assert params == {"group": sadbench.plugins.ENTRY_POINT_GROUP}
        return eps

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)


def test_monkeypatched_entry_point_is_loaded(monkeypatch, fresh_registries):
    monkeypatch.syspath_prepend(str(THIRDPARTY_DIR))
    fake_entry_points(monkeypatch, ("myplugin", "sadbench_thirdparty_demo"))
    registry = sadbench.get_registry()
    (entry,) = [e for e in registry.entries("activation") if e.spec.name == "arctan"]
    assert entry.plugin == "myplugin"
    assert entry.source == "entry point sadbench_thirdparty_demo (unknown distribution)"


# ---------------------------------------------------------------------------------------------------------
# (c) broken plugins: every error names the plugin and the reason

HEADER = """
import math
from numba import njit
import sadbench
from sadbench import Activation, ButcherTableau, ExplicitRungeKutta, hookimpl


@njit
def f(x):
    return math.sin(x)


@njit
def df(x):
    return math.cos(x)


@njit
def d2f(x):
    return -math.sin(x)
"""

BROKEN = {
    "duplicate": (
        """
        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("tanh", f, df, d2f))
        """,
        r"activation 'tanh' is already registered by plugin 'sadbench_plugins.activations'",
    ),
    "wrong_df": (
        """
        @njit
        def bad_df(x):
            return 1.1 * math.cos(x)

        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("wobbly", f, bad_df, None))
        """,
        r"activation 'wobbly': df disagrees with a finite difference at -0.05",
    ),
    "wrong_d2f": (
        """
        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("wobbly", f, df, f))
        """,
        r"activation 'wobbly': d2f disagrees with a finite difference",
    ),
    "no_df": (
        """
        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("nodiff", f, None))
        """,
        r"activation 'nodiff': activation 'nodiff' has no derivative df",
    ),
    "not_compilable": (
        """
        @njit
        def broken(x):
            return undefined_function(x)

        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("broken", broken, df))
        """,
        r"activation 'broken': f does not compile for float64: ",
    ),
    "not_jitted": (
        """
        def plain(x):
            return x

        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("plain", plain, df))
        """,
        r"activation 'plain': f must be a numba @njit function, got function",
    ),
    "bad_name": (
        """
        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("my-act", f, df))
        """,
        r"activation 'my-act': name 'my-act' is not a valid identifier",
    ),
    "wrong_type": (
        """
        @hookimpl
        def sadbench_register_activations(register):
            register("tanh")
        """,
        r"registered a str where a Activation is expected",
    ),
    "bad_tableau": (
        """
        @hookimpl
        def sadbench_register_integrators(register):
            # the midpoint rule with the wrong node: Σ b c = 1/4
            tab = ButcherTableau(c=[0.0, 0.5], A=[[0.0, 0.0], [0.5, 0.0]], b=[0.5, 0.5], order=2)
            register(ExplicitRungeKutta("midpoint", tab))
        """,
        r"sadbench_register_integrators raised ValueError\('b fails the order-2 conditions",
    ),
    "bad_tableau_at_import": (
        """
        TAB = ButcherTableau(c=[0.0, 0.5], A=[[0.0, 0.0], [0.5, 0.0]], b=[0.5, 0.5], order=2)
        """,
        r"failed to import: ValueError\('b fails the order-2 conditions",
    ),
    "hook_raises": (
        """
        @hookimpl
        def sadbench_register_activations(register):
            raise RuntimeError("boom")
        """,
        r"sadbench_register_activations raised RuntimeError\('boom'\)",
    ),
    "wrong_hook_argument": (
        """
        @hookimpl
        def sadbench_register_activations(reg):
            pass
        """,
        r"failed to import: PluginValidationError\(.*Argument\(s\) \{'reg'\} are declared in the hookimpl",
    ),
}


def write_plugin(directory, name, body):
    path = (directory / f"{name}.py").resolve()
    path.write_text(HEADER + textwrap.dedent(body))
    return path


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_local_plugin_is_named(tmp_path, case):
    body, reason = BROKEN[case]
    path = write_plugin(tmp_path, f"broken_{case}", body)
    with pytest.raises(sadbench.PluginError) as info:
        sadbench.get_registry(paths=[path])
    assert info.value.plugin == str(path)
    message = str(info.value)
    assert message.startswith(f"plugin {str(path)!r}: ")
    assert re.search(reason, message), message


def test_compile_error_names_the_cause(tmp_path):
    path = write_plugin(tmp_path, "uncompilable", BROKEN["not_compilable"][0])
    with pytest.raises(sadbench.PluginError, match="does not compile") as info:
        sadbench.get_registry(paths=[path])
    assert "undefined_function" in str(info.value)


def test_misspelt_hook_is_named(tmp_path):
    path = write_plugin(tmp_path, "misspelt", """
        @hookimpl
        def sadbench_register_activation(register):
            pass
        """)
    with pytest.raises(sadbench.PluginError) as info:
        sadbench.get_registry(paths=[path])
    assert "sadbench_register_activation" in str(info.value)
    assert info.value.plugin == str(path)


def broken_module(directory, module, body):
    (directory / f"{module}.py").write_text(HEADER + textwrap.dedent(body))


def test_failing_entry_points_warn_and_others_still_load(tmp_path, monkeypatch, fresh_registries):
    broken_module(tmp_path, "sadbench_demo_hook_raises", BROKEN["hook_raises"][0])
    broken_module(tmp_path, "sadbench_demo_duplicate", BROKEN["duplicate"][0])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(THIRDPARTY_DIR))
    fake_entry_points(
        monkeypatch,
        ("missing", "sadbench_demo_no_such_module"),
        ("raises", "sadbench_demo_hook_raises"),
        ("duplicate", "sadbench_demo_duplicate"),
        ("myplugin", "sadbench_thirdparty_demo"),
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        registry = sadbench.get_registry()
    failures = dict(registry.failures)
    assert set(failures) == {"missing", "raises", "duplicate"}
    assert ("failed to import 'sadbench_demo_no_such_module' (unknown distribution): ModuleNotFoundError"
            in failures["missing"])
    assert "sadbench_register_activations raised RuntimeError('boom')" in failures["raises"]
    assert "activation 'tanh' is already registered by plugin 'sadbench_plugins.activations'" in failures["duplicate"]
    messages = [str(w.message) for w in caught if "sadbench: skipped plugin" in str(w.message)]
    assert sorted(m.split("'")[1] for m in messages) == ["duplicate", "missing", "raises"]
    # the good plugin and the built-ins are all there; the duplicate did not replace the built-in tanh
    assert "arctan" in registry.names("activation") and "ssprk3" in registry.names("integrator")
    assert "dopri5" in registry.names("integrator")
    (tanh,) = [e for e in registry.entries("activation") if e.spec.name == "tanh"]
    assert tanh.source == BUILTIN_SOURCE


def test_skipped_entry_point_contributes_nothing(tmp_path, monkeypatch, fresh_registries):
    broken_module(tmp_path, "sadbench_demo_half_broken", """
        @hookimpl
        def sadbench_register_activations(register):
            register(Activation("sine", f, df, d2f))
            register(Activation("tanh", f, df, d2f))

        @hookimpl
        def sadbench_register_integrators(register):
            tab = ButcherTableau(c=[0.0], A=[[0.0]], b=[1.0], order=1)
            register(ExplicitRungeKutta("half_broken_euler", tab))
        """)
    monkeypatch.syspath_prepend(str(tmp_path))
    fake_entry_points(monkeypatch, ("half", "sadbench_demo_half_broken"))
    with pytest.warns(UserWarning, match="skipped plugin 'half'"):
        registry = sadbench.get_registry()
    assert [plugin for plugin, _ in registry.failures] == ["half"]
    assert "sine" not in registry.names("activation")
    assert "half_broken_euler" not in registry.names("integrator")


def test_entry_point_with_misspelt_hook_is_skipped(tmp_path, monkeypatch, fresh_registries):
    broken_module(tmp_path, "sadbench_demo_misspelt", """
        @hookimpl
        def sadbench_register_activation(register):
            pass
        """)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(THIRDPARTY_DIR))
    fake_entry_points(monkeypatch, ("misspelt", "sadbench_demo_misspelt"), ("myplugin", "sadbench_thirdparty_demo"))
    with pytest.warns(UserWarning, match="skipped plugin 'misspelt'"):
        registry = sadbench.get_registry()
    assert "arctan" in registry.names("activation")
