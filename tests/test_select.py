"""``sadbench run SUITE -k EXPR`` and ``--set key=value``: pytest's -k grammar over a case's id, label and
parameters, and suite defaults set from the command line, checked like the file."""

from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from sadbench.cli import build_cli
from sadbench.suites.document import SuiteError
from sadbench.suites.select import SelectionError, compile_expression
from sadbench.suites.store import open_results
from sadbench.suites.suite import load_suite

SUITES = Path(__file__).resolve().parent / "suites"


def case(label, **params):
    return SimpleNamespace(case_id="c0ffee", label=label, params=params)


GELU = case("sad gelu", network={"activation": "gelu", "widths": [1, 8, 1]}, integrator={"rtol": 1e-10})
TANH = case("sad tanh", network={"activation": "tanh", "widths": [1, 8, 1]}, integrator={"rtol": 1e-8})
RELU = case("toy", network={"activation": "relu", "widths": [1, 1, 1]}, integrator={"rtol": 1e-10})
ALL = (GELU, TANH, RELU)


def chosen(expression):
    match = compile_expression(expression)
    return [c.label for c in ALL if match("store1d", c)]


@pytest.mark.parametrize("expression, labels", [
    ("", ["sad gelu", "sad tanh", "toy"]),  # no expression: every case
    ("gelu", ["sad gelu"]),  # a parameter value
    ("SAD", ["sad gelu", "sad tanh"]),  # the label, ignoring case
    ("activation=tanh", ["sad tanh"]),  # dotted.key=value, as a substring
    ("rtol=1e-10", ["sad gelu", "toy"]),  # floats as Python writes them
    ("widths=[1,1,1]", ["toy"]),
    ("not gelu", ["sad tanh", "toy"]),
    ("gelu or toy", ["sad gelu", "toy"]),
    ("sad and not tanh", ["sad gelu"]),
    # and binds tighter than or: gelu or (toy and tanh), not (gelu or toy) and tanh
    ("gelu or toy and tanh", ["sad gelu"]),
    ("(gelu or toy) and rtol=1e-10", ["sad gelu", "toy"]),
    ("not not toy", ["toy"]),
    ("not (gelu or tanh)", ["toy"]),
    ("not gelu and not tanh", ["toy"]),  # not binds tighter than and
    ("store1d", ["sad gelu", "sad tanh", "toy"]),  # the store id
    ("c0ffee and toy", ["toy"]),  # the suite's case id
])
def test_k_grammar(expression, labels):
    assert chosen(expression) == labels


@pytest.mark.parametrize("expression, message", [
    ("gelu and", "-k 'gelu and': expected a word, 'not' or '(' at column 9, got the end"),
    ("(gelu or tanh", "-k '(gelu or tanh': expected ')' at column 14, got the end"),
    ("gelu tanh", "-k 'gelu tanh': expected the end of the expression at column 6, got 'tanh'"),
    ("or gelu", "-k 'or gelu': expected a word, 'not' or '(' at column 1, got 'or'"),
    ("gelu )", "-k 'gelu )': expected the end of the expression at column 6, got ')'"),
])
def test_k_errors_name_the_column(expression, message):
    with pytest.raises(SelectionError) as info:
        compile_expression(expression)
    assert str(info.value) == message


def test_run_k_runs_only_the_selected_cases(tmp_path):
    result = CliRunner().invoke(build_cli(), ["run", str(SUITES / "tiny.yaml"), "--results", str(tmp_path),
                                              "-k", "rk4 or nothing-else"])
    assert result.exit_code == 0, result.output
    with open_results(tmp_path / "tiny.sqlite") as store:
        assert [c["label"] for c in store.cases()] == ["line"]
    listed = CliRunner().invoke(build_cli(), ["list", str(SUITES / "tiny.yaml"), "-k", "not line"])
    assert listed.exit_code == 0 and " toy " in listed.stdout and " line " not in listed.stdout
    none = CliRunner().invoke(build_cli(), ["run", str(SUITES / "tiny.yaml"), "--results", str(tmp_path),
                                            "-k", "gelu"])
    assert none.exit_code == 1 and none.stderr == ("error: -k 'gelu' selects none of the 2 cases of tiny; "
                                                   "`sadbench list SUITE` shows their ids, labels and parameters\n")


def test_set_overrides_a_default_and_cases_that_set_the_key_keep_theirs():
    plain = load_suite(SUITES / "tiny.yaml")
    tight = load_suite(SUITES / "tiny.yaml", overrides=["integrator.rtol=1e-10", "horizon=2", "seeds=[3]"])
    toy, line = tight.cases
    assert toy.params["integrator"] == {"name": "dopri5", "rtol": 1e-10, "atol": 1e-8}
    assert line.params["integrator"] == plain.cases[1].params["integrator"]  # its own rk4 section replaces
    assert [c.params["horizon"] for c in tight.cases] == [2, 2] and toy.seeds == [3]
    assert toy.case_id != plain.cases[0].case_id  # other settings: another result
    again = load_suite(SUITES / "tiny.yaml", overrides=["integrator.rtol=1e-8"])
    assert [c.case_id for c in again.cases] == [c.case_id for c in plain.cases]  # the file's own value


@pytest.mark.parametrize("override, message", [
    ("integrator.rtol=-1", "--set integrator.rtol=-1: expected a positive number, got -1"),
    ("integrator.rtl=1e-9", "--set integrator.rtl=1e-9: unknown key 'rtl'; valid: atol, dt, dt_max, dt_min, "
                            "factor_max, factor_min, max_steps, max_wall_time, name, rtol, safety "
                            "(did you mean 'rtol'?)"),
    ("horizn=3", "--set horizn=3: unknown key 'horizn'; valid: backend, detectors, expect, horizon, init, "
                 "integrator, label, loss, network, precision, save, seeds, target (did you mean 'horizon'?)"),
    ("horizon", "--set horizon: expected KEY=VALUE, such as integrator.rtol=1e-10"),
    ("network..widths=[1]", "--set network..widths=[1]: expected a dotted key path such as integrator.rtol, got "
                            "'network..widths'"),
    ("network.widths=[1,x", "--set network.widths=[1,x: the value is not valid YAML (expected ',' or ']', but "
                            "got '<stream end>')"),
    ("horizon.x=3", "--set horizon.x=3: cannot set horizon.x: horizon is not a mapping"),
    ("network.activation=nope", "--set network.activation=nope: unknown activation 'nope'; registered: elu, gelu, "
                                "identity, leaky_relu, logistic, mish, relu, silu, softplus, tanh"),
    ("integrator.name=rk4", "--set integrator.name=rk4: integrator 'rk4' is fixed-step: give integrator.dt"),
    ("seeds={count: 0}", "--set seeds={count: 0}: seeds.count: expected a positive integer, got 0"),
])
def test_set_errors_name_the_option(override, message):
    with pytest.raises(SuiteError) as info:
        load_suite(SUITES / "tiny.yaml", overrides=[override])
    assert str(info.value) == message


def test_a_file_error_still_names_the_file_with_set_given(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text("defaults:\n  network: {widths: [1, 2, 1]}\n  target: {name: polynomial, expr: x}\n"
                     "  horizon: -1\n")
    with pytest.raises(SuiteError) as info:
        load_suite(suite, overrides=["integrator.rtol=1e-9"])
    assert str(info.value) == f"{suite}:4: defaults.horizon: expected a positive number, got -1"


def test_run_set_from_the_command_line(tmp_path):
    result = CliRunner().invoke(build_cli(), ["run", str(SUITES / "tiny.yaml"), "--results", str(tmp_path),
                                              "--set", "horizon=1.5", "-k", "toy"])
    assert result.exit_code == 0, result.output
    with open_results(tmp_path / "tiny.sqlite") as store:
        (row,) = store.cases()
        assert row["params"]["horizon"] == 1.5 and {m["t_final"] for m in store.members()} == {1.5}
        (run,) = store.runs()
        assert run["command"] == f"sadbench run {SUITES / 'tiny.yaml'} --results {tmp_path} --set horizon=1.5 -k toy"
    bad = CliRunner().invoke(build_cli(), ["run", str(SUITES / "tiny.yaml"), "--set", "horizon=0"])
    assert bad.exit_code == 1 and bad.stderr == "error: --set horizon=0: expected a positive number, got 0\n"
