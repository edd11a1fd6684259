"""Suite files: every user mistake is reported word for word at its line; expansion and case ids."""

from pathlib import Path

import pytest

import sadbench
from sadbench.suites.suite import SuiteError, load_suite

SUITES = Path(__file__).resolve().parent / "suites"

VALID = """\
defaults:
  network: {widths: [1, 4, 1], activation: tanh}
  target: {name: polynomial, expr: "x^2", n: 8, sampling: grid}
  horizon: 10.0
"""


def write(tmp_path, text, name="suite.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def registered(kind):
    """The registered names as the error lists them (other plugins may add to the built-in ones)."""
    return ", ".join(sadbench.get_registry().names(kind))


def error_of(path):
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return str(info.value)


def test_unknown_integrator_names_the_registered_ones(tmp_path):
    assert {"bosh3", "dopri5", "euler", "heun", "rk4"} <= set(registered("integrator").split(", "))
    path = write(tmp_path, VALID + "  integrator:\n    rtol: 1.0e-8\n    name: dopri4\n")
    assert error_of(path) == (
        f"{path}:7: defaults.integrator.name: unknown integrator 'dopri4'; "
        f"registered: {registered('integrator')} (did you mean 'dopri5'?)"
    )


def test_unknown_activation_in_a_grid_points_at_the_grid_entry(tmp_path):
    path = write(tmp_path, VALID + "grid:\n  network.activation:\n    - tanh\n    - gleu\n")
    assert error_of(path) == (
        f"{path}:8: grid.network.activation[1]: unknown activation 'gleu'; "
        f"registered: {registered('activation')} (did you mean 'gelu'?)"
    )


def test_misspelt_top_level_key_gets_a_suggestion(tmp_path):
    path = write(tmp_path, "name: x\n" + VALID.replace("defaults:", "defualts:"))
    assert error_of(path) == (
        f"{path}:2: defualts: unknown key 'defualts'; valid: cases, defaults, description, grid, name, plugins, "
        "zip (did you mean 'defaults'?)"
    )


def test_misspelt_case_key_gets_a_suggestion(tmp_path):
    path = write(tmp_path, VALID + "cases:\n  - {label: a}\n  - {label: b, horizn: 5}\n")
    assert error_of(path) == (
        f"{path}:7: cases[b].horizn: unknown key 'horizn'; valid: backend, detectors, expect, horizon, init, "
        "integrator, label, loss, network, precision, save, seeds, t_max, target (did you mean 'horizon'?)"
    )


def test_unknown_target_parameter(tmp_path):
    path = write(tmp_path, VALID + "cases:\n  - label: wide\n    target: {sampel: uniform}\n")
    assert error_of(path) == (
        f"{path}:7: cases[wide].target.sampel: unknown parameter 'sampel' of target 'polynomial'; "
        "valid: box, d, expr, n, preset, sampling (did you mean 'sampling'?)"
    )


def test_fixed_step_integrator_needs_dt(tmp_path):
    path = write(tmp_path, VALID + "cases:\n  - {}\n  - integrator: {name: rk4}\n")
    assert error_of(path) == f"{path}:7: cases[1].integrator.name: integrator 'rk4' is fixed-step: give integrator.dt"


def test_zip_groups_must_have_equal_lengths(tmp_path):
    path = write(tmp_path, VALID + "zip:\n  - network.widths: [[1, 2, 1], [1, 3, 1]]\n    target.n: [4, 8, 16]\n")
    assert error_of(path) == f"{path}:6: zip[0]: lists of unequal length: network.widths has 2, target.n has 3"


def test_empty_grid_axis(tmp_path):
    path = write(tmp_path, VALID + "grid:\n  target.n: []\n")
    assert error_of(path) == f"{path}:6: grid.target.n: empty list: a grid axis needs at least one value"


def test_yaml_syntax_error_names_file_and_line(tmp_path):
    path = write(tmp_path, VALID.replace("[1, 4, 1]", "[1, 4, 1}"))
    assert error_of(path) == f"{path}:2: invalid YAML: expected ',' or ']', but got '}}'"


def test_unclosed_list_reports_where_it_started(tmp_path):
    path = write(tmp_path, VALID + "seeds: [0, 1\n\n")
    assert error_of(path) == (
        f"{path}:7: invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence started on line 5)"
    )


def test_wrong_types_and_missing_keys(tmp_path):
    path = write(tmp_path, VALID.replace("horizon: 10.0", "horizon: soon"))
    assert error_of(path) == f"{path}:4: defaults.horizon: expected a positive number or 'decided', got 'soon'"
    path = write(tmp_path, VALID.replace("widths: [1, 4, 1], ", ""))
    assert error_of(path) == f"{path}:2: defaults.network: missing key 'widths'"
    path = write(tmp_path, VALID + "  expect: divergent\n")
    assert error_of(path) == (
        f"{path}:5: defaults.expect: expected one of converged, diverging, directional, undecided, failed, "
        "got 'divergent'"
    )


def test_duplicate_key(tmp_path):
    path = write(tmp_path, VALID + "  horizon: 20.0\n")
    assert error_of(path) == f"{path}:5: defaults.horizon: duplicate key"


def test_expansion_counts_grid_zip_cases_and_seeds(tmp_path):
    path = write(tmp_path, VALID + """\
  seeds: {count: 3, start: 5}
grid:
  network.activation: [tanh, gelu]
  target.n: [8, 27, 64]
zip:
  - {network.widths: [[1, 4, 1], [1, 8, 1]], init.gain: [1.0, 2.0]}
cases:
  - {label: a}
  - {label: b, loss: mse, integrator: {name: rk4, dt: 0.1}}
""")
    suite = load_suite(path)
    assert len(suite.cases) == 2 * 2 * 3 * 2
    assert suite.n_runs == 24 * 3
    assert all(case.seeds == [5, 6, 7] for case in suite.cases)
    assert len({case.case_id for case in suite.cases}) == 24
    assert suite.cases[0].label == "a network.activation=tanh target.n=8 network.widths=[1,4,1] init.gain=1.0"
    assert suite.cases[-1].params["integrator"] == {"name": "rk4", "dt": 0.1}


def test_case_ids_are_stable_and_ignore_formatting(tmp_path):
    first = load_suite(write(tmp_path, VALID, "a.yaml"))
    reordered = VALID.replace("widths: [1, 4, 1], activation: tanh", "activation: tanh, widths: [1, 4, 1]")
    second = load_suite(write(tmp_path, "description: same case\n" + reordered, "b.yaml"))
    assert [c.case_id for c in first.cases] == [c.case_id for c in second.cases]
    changed = load_suite(write(tmp_path, VALID.replace("n: 8", "n: 27"), "c.yaml"))
    assert changed.cases[0].case_id != first.cases[0].case_id


def test_merging_switches_plugins_and_reads_exponents_as_floats(tmp_path):
    path = write(tmp_path, VALID + """\
  init: {scheme: xavier_uniform, gain: 2.0}
  integrator: {name: dopri5, rtol: 1e-9}
cases:
  - label: line
    target: {name: points, X: [0, 1], Y: [0, 1]}
    init: {scheme: normal}
""")
    params = load_suite(path).cases[0].params
    assert params["target"] == {"name": "points", "X": [0, 1], "Y": [0, 1], "seed": 0}
    assert params["init"] == {"scheme": "normal"}
    assert params["integrator"]["rtol"] == 1e-9
    assert params["save"] == {"schedule": "log", "per_decade": 10}


def test_fixture_suites_are_valid():
    assert [len(load_suite(SUITES / name).cases) for name in ("tiny.yaml", "with_plugin.yaml")] == [2, 1]
