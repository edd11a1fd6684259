"""What a suite's cases read and how they step, checked when the suite is loaded: data (finite, shapes, at
least one point, ±1 labels), step-control settings together, the CUDA extra; and a case's identity that
follows the content of its data file."""

import importlib.util

import pytest

from sadbench.suites.runner import plan
from sadbench.suites.suite import SuiteError, load_suite

HEAD = """\
defaults:
  network: {widths: [1, 4, 1]}
  target: {name: file, path: data.csv}
  horizon: 1.0
"""


def suite(tmp_path, extra="", data="x,y\n0.0,1.0\n0.5,0.25\n1.0,1.0\n"):
    (tmp_path / "data.csv").write_text(data)
    path = tmp_path / "suite.yaml"
    path.write_text(HEAD + extra)
    return path


def error_of(path):
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    return str(info.value)


@pytest.mark.parametrize("data, problem", [
    ("x,y\n0.0,1.0\n# a comment\n\n0.5,nan\n", "data.csv:5: column 2 is nan: data must be finite"),
    ("0.0,1.0\n0.5,inf\n", "data.csv:2: column 2 is inf: data must be finite"),
    ("x,y\n", "'{tmp}/data.csv': no data rows"),
    ("x,y\n0.0,1.0\n0.5\n", "'{tmp}/data.csv': not a numeric csv: "),
])
def test_bad_data_files_are_refused_at_validate_naming_file_row_and_column(tmp_path, data, problem):
    path = suite(tmp_path, data=data)
    got = error_of(path)
    assert got.startswith(f"{path}:3: defaults.target: ")
    assert problem.format(tmp=tmp_path) in got


def test_a_data_file_that_does_not_fit_the_network_is_refused(tmp_path):
    path = suite(tmp_path, "cases:\n  - network: {widths: [2, 4, 1]}\n")
    assert error_of(path) == (f"{path}:3: defaults.target: the data of target 'file': X must have shape (n, 2), "
                              "got (3, 1)")


def test_inline_points_are_checked_too(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("defaults:\n  network: {widths: [1, 2, 1]}\n  horizon: 1.0\ncases:\n"
                    "  - target: {name: points, X: [], Y: []}\n"
                    "  - target: {name: points, X: [1, .inf], Y: [1, 2]}\n")
    assert error_of(path) == (f"{path}:5: cases[0].target: the data of target 'points': X and Y hold 0 points; the "
                              "loss averages over at least one")
    path.write_text(path.read_text().replace("X: [], Y: []", "X: [1], Y: [2]"))
    assert error_of(path) == (f"{path}:6: cases[1].target: the data of target 'points': X[1, 0] is inf: data must "
                              "be finite")


def test_logistic_labels_outside_plus_minus_one_are_refused(tmp_path):
    path = suite(tmp_path, "  loss: logistic\n", data="0.0,1\n0.5,-1\n1.0,0\n")
    assert error_of(path) == (f"{path}:3: defaults.target: the data of target 'file': Y[2, 0] is 0: loss "
                              "'logistic' needs labels -1 or +1")


def test_a_bad_target_parameter_is_refused_at_validate(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("defaults:\n  network: {widths: [1, 2, 1]}\n  horizon: 1.0\n"
                    "  target: {name: polynomial, expr: \"__import__('os')\"}\n")
    assert error_of(path) == (f"{path}:4: defaults.target: expr \"__import__('os')\": Call is not allowed; use "
                              "x1..xd (or x when d == 1), numbers, + - * ^ ** and parentheses")


@pytest.mark.parametrize("integrator, line, message", [
    ("{factor_min: 0.5, factor_max: 0.4}", "integrator.factor_max", "must be a finite number > 1, got 0.4"),
    ("{factor_min: 2}", "integrator.factor_min", "must be a finite number in (0, 1), got 2"),
    ("{dt_min: 0.5, dt_max: 0.1}", "integrator.dt_min", "must be ≤ dt_max = 0.1, got 0.5"),
    ("{safety: 50}", "integrator.safety", "must be a finite number in (0, 1], got 50"),
    ("{rtol: .inf}", "integrator.rtol", "must be a finite number ≥ 0, got inf"),
    ("{dt: 2.0, dt_max: 1.0}", "integrator.dt", "must be in [dt_min, dt_max] = [0, 1], got 2"),
])
def test_step_control_is_checked_together_at_validate(tmp_path, integrator, line, message):
    path = suite(tmp_path, f"cases:\n  - label: loose\n    integrator: {integrator}\n")
    assert error_of(path) == f"{path}:7: cases[loose].{line}: {message}"


def test_a_save_schedule_too_long_is_refused(tmp_path):
    path = suite(tmp_path, "  save: {per_decade: 100000000}\n")
    assert error_of(path).startswith(f"{path}:5: defaults.save.per_decade: the log save schedule to t_end 1 with "
                                     "per_decade 100000000 has 200000001 times; at most 1000000")


def test_backend_cuda_without_numba_cuda_says_what_to_install(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "numba_cuda" else real(name, *a))
    path = suite(tmp_path, "  backend: cuda\n")
    assert error_of(path) == (f"{path}:5: defaults.backend: 'cuda' needs numba-cuda, which is not installed: "
                              'pip install "sadbench[cuda]"')


def test_editing_a_data_file_makes_a_new_case(tmp_path):
    """The store key hashes the data file's content: the same suite over edited data is another case (and
    another lineage, so it is not continued from the old data's state either); the old data's key returns
    when the file does."""
    path = suite(tmp_path)
    before = plan(load_suite(path))[0]
    assert before.provenance["files"] == {"data.csv": before.provenance["files"]["data.csv"]}
    (tmp_path / "data.csv").write_text("x,y\n0.0,1.0\n0.5,0.25\n1.0,1.5\n")
    after = plan(load_suite(path))[0]
    assert after.case.case_id == before.case.case_id  # the suite's settings did not change...
    assert after.case_id != before.case_id and after.lineage != before.lineage  # ...the stored identity did
    (tmp_path / "data.csv").write_text("x,y\n0.0,1.0\n0.5,0.25\n1.0,1.0\n")
    assert plan(load_suite(path))[0].case_id == before.case_id


def test_cases_that_read_no_file_keep_their_ids(tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text("defaults:\n  network: {widths: [1, 2, 1]}\n  horizon: 1.0\n"
                    "  target: {name: polynomial, expr: x, n: 4}\n")
    assert "files" not in plan(load_suite(path))[0].provenance
