"""The command line, end to end through click's CliRunner."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import sadbench
from sadbench.cli import build_cli
from sadbench.suites.runner import integrate_case, plan
from sadbench.suites.store import open_results
from sadbench.suites.suite import load_suite

SUITES = Path(__file__).resolve().parent / "suites"
TINY = SUITES / "tiny.yaml"
LOCAL_PLUGIN = SUITES / "local_plugin.py"


def invoke(*args, registry=None):
    return CliRunner().invoke(build_cli(registry), [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    return results, invoke("run", TINY, "--results", results)


def test_run_prints_a_row_per_case_and_seed_and_the_results_file(tiny_run):
    results, result = tiny_run
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["case", "activation", "widths", "target", "loss", "integrator", "seed", "t", "L",
                                "||θ||", "grad", "evals", "wall", "s", "status", "verdict", "decided", "at", "t"]
    rows = [line.split() for line in lines[2:6]]
    assert [(row[0], row[6]) for row in rows] == [("toy", "0"), ("toy", "1"), ("line", "0"), ("line", "1")]
    assert lines[6].startswith("expected \\ verdict")  # the suite has expect: labels, so a confusion table
    assert rows[2][1:6] == ["tanh", "[1,1,1]", "polynomial", "mse", "rk4"]
    assert lines[-1] == f"results: {results / 'tiny.sqlite'}"
    assert "[2/2] line" in result.stderr


def test_stored_final_values_equal_the_solution(tiny_run):
    results, _ = tiny_run
    suite = load_suite(TINY)
    with open_results(results / "tiny.sqlite") as store:
        for task in plan(suite):
            case = task.case
            sol = integrate_case(case, suite.registry, TINY.parent)
            members = store.members(task.case_id)
            assert [m["seed"] for m in members] == case.seeds
            for e, member in enumerate(members):
                assert member["t_final"] == sol.t_final[e]
                assert member["loss_final"] == sol.loss_final[e]
                assert member["norm_final"] == sol.norm_final[e]
                assert member["n_grad"] == sol.n_grad[e]
                assert member["verdict"] == sol.verdict[e].label
                np.testing.assert_array_equal(store.series(task.case_id, case.seeds[e])["loss"],
                                              sol.member_trace(e).loss)


def test_rerun_skips_stored_cases_unless_asked(tiny_run):
    results, _ = tiny_run
    again = invoke("run", TINY, "--results", results)
    assert again.exit_code == 0
    assert again.stderr == "skipped 2 cases already stored (--rerun runs them again)\n"
    assert again.stdout.splitlines()[2:-1] == tiny_run[1].stdout.splitlines()[2:-1]
    forced = invoke("run", TINY, "--results", results, "--rerun", "--jobs", "1")
    assert "skipped" not in forced.stderr and forced.stderr.count("seeds integrated") == 2


def test_invalid_suite_exits_1_with_the_error_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.read_text().replace("name: dopri5", "name: dopri4"))
    result = invoke("validate", bad)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: {bad}:6: defaults.integrator.name: unknown integrator 'dopri4'; "
        f"registered: {', '.join(sadbench.get_registry().names('integrator'))} (did you mean 'dopri5'?)\n"
    )
    assert "Traceback" not in result.output


def test_validate_and_list(tmp_path):
    result = invoke("validate", TINY)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{TINY}: ok; cases: 2; runs (cases × seeds): 4"
    assert lines[1] == ("estimated cost (docs/cost-model.md): not estimated: 2 cases whose integrator is not "
                        "bdf or auto or whose loss is not mse")
    assert lines[2].split()[:3] == ["case", "data", "floor"] and [line.split()[0] for line in lines[4:]] == ["toy", "line"]
    listing = invoke("list", TINY).stdout.splitlines()
    assert listing[0].split()[:3] == ["case_id", "label", "activation"]
    rows = [line.split() for line in listing[2:]]
    assert [row[1] for row in rows] == ["toy", "line"]
    assert [row[0] for row in rows] == [task.case_id for task in plan(load_suite(TINY))]  # the stored ids


def test_plugins_lists_names_with_their_source():
    lines = invoke("plugins").stdout.splitlines()
    assert lines[0].split() == ["kind", "name", "plugin", "source"]
    rows = {tuple(line.split()[:3]) for line in lines[2:]}
    assert ("activation", "gelu", "sadbench_plugins.activations") in rows
    assert ("integrator", "dopri5", "sadbench_plugins.integrators") in rows
    assert all(line.endswith("sadbench (built-in)") for line in lines[2:])


def test_plugins_lists_a_local_plugin_file():
    result = invoke("plugins", "--plugins", LOCAL_PLUGIN)
    assert any(line.split()[:2] == ["target", "ramp"] and line.endswith(f"file {LOCAL_PLUGIN}")
               for line in result.stdout.splitlines())


@pytest.mark.parametrize("suite, extra", [("with_plugin.yaml", ()), ("needs_plugin.yaml", ("--plugins", LOCAL_PLUGIN))])
def test_local_plugin_is_used_end_to_end(tmp_path, suite, extra):
    result = invoke("run", SUITES / suite, "--results", tmp_path, *extra)
    assert result.exit_code == 0, result.output
    assert "ramp" in result.stdout.splitlines()[2].split()
    stem = Path(suite).stem
    with open_results(tmp_path / f"{stem}.sqlite") as store:
        (member,) = store.members()
    assert member["verdict"] == "converged" and member["verdict_json"]["detector"] == "loss_below"


def test_plugin_suite_without_its_plugin_is_an_error():
    result = invoke("validate", SUITES / "needs_plugin.yaml")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {SUITES / 'needs_plugin.yaml'}:4: defaults.target.name: unknown target")


def test_plugins_add_commands():
    registry = sadbench.get_registry([LOCAL_PLUGIN])
    result = invoke("ramp-info", registry=registry)
    assert result.exit_code == 0 and result.stdout == "ramp: y = slope·x\n"


def test_a_failed_case_is_reported_exits_1_and_is_retried_on_request(tmp_path):
    result = invoke("run", SUITES / "one_broken.yaml", "--results", tmp_path)
    assert result.exit_code == 1
    assert "case 'broken' failed: RuntimeError: this target is broken on purpose" in result.stdout
    error = f"error: 1 of 3 cases failed; tracebacks are in {tmp_path / 'one_broken.sqlite'}\n"
    assert result.stderr.endswith(error)
    assert "Traceback" not in result.output
    again = invoke("run", SUITES / "one_broken.yaml", "--results", tmp_path)
    assert again.exit_code == 1 and again.stderr == (
        "skipped 2 cases already stored (--rerun runs them again)\n"
        "skipped 1 failed cases stored earlier (--retry-failed runs them again): 'broken'\n" + error)
    retried = invoke("run", SUITES / "one_broken.yaml", "--results", tmp_path, "--retry-failed")
    assert retried.exit_code == 1 and "[1/1] broken" in retried.stderr and "failed cases stored" not in retried.stderr
