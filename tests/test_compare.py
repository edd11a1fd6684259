"""``sadbench compare A B``: identical inputs compare clean (exit 0); a wrong verdict, a failed case, a larger
error or a slowdown beyond the repeats' noise in B is a regression (exit 1); the same changes the other way
round are improvements (exit 0)."""

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from sadbench.cli import build_cli
from sadbench.results.compare import compare, speed, verdict_change
from sadbench.suites.runner import run_suite
from sadbench.suites.suite import load_suite

GRID = Path(__file__).resolve().parent / "suites" / "grid.yaml"


@pytest.fixture(scope="module")
def before(tmp_path_factory):
    return run_suite(load_suite(GRID), tmp_path_factory.mktemp("before"), repeat=3).path


def edited(path, tmp_path, *statements):
    copy = tmp_path / "after.sqlite"
    shutil.copy(path, copy)
    connection = sqlite3.connect(copy)
    with connection:
        for statement, args in statements:
            connection.execute(statement, args)
    connection.close()
    return copy


def case_id(path, label, integrator, rtol):
    connection = sqlite3.connect(path)
    for cid, params in connection.execute("SELECT case_id, params FROM cases"):
        params = json.loads(params)
        if params["label"].startswith(label) and params["integrator"]["name"] == integrator and \
                params["integrator"]["rtol"] == rtol:
            return cid
    raise KeyError(label)


def invoke(a, b, *options):
    return CliRunner().invoke(build_cli(), ["compare", str(a), str(b), *options])


def test_identical_inputs_compare_clean(before):
    result = invoke(before, before)
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith("0 regressions, 0 improvements, 0 verdict changes, 0 cases with changed "
                                           "numbers")
    assert result.stdout.count(" 1.00 ") == 6  # one speed row per case, ratio 1


def test_a_rerun_with_other_timings_and_no_changes_is_clean(before, tmp_path):
    again = run_suite(load_suite(GRID), tmp_path, repeat=3).path
    comparison = compare(before, again)
    assert not comparison.verdicts and not comparison.numbers  # the same bits: only timings differ
    assert [r for r in comparison.regressions if "slower" not in r] == []


def test_regressions_exit_1_and_the_reverse_is_an_improvement(before, tmp_path):
    wrong = case_id(before, "reachable", "dopri5", 1e-6)
    worse = case_id(before, "sad", "bosh3", 1e-6)
    slow = case_id(before, "sad", "dopri5", 1e-6)
    (wall_times,) = sqlite3.connect(before).execute("SELECT wall_times FROM cases WHERE case_id = ?",
                                                    (slow,)).fetchone()
    slower = [3 * max(json.loads(wall_times)) + t for t in json.loads(wall_times)]
    after = edited(before, tmp_path,
                   ("UPDATE members SET verdict = 'diverging' WHERE case_id = ? AND seed = 0", (wrong,)),
                   ("UPDATE series SET loss = loss * 1.5, norm = norm * 1.5 WHERE case_id = ?", (worse,)),
                   ("UPDATE cases SET wall_times = ?, wall_time = ? WHERE case_id = ?",
                    (json.dumps(slower), sorted(slower)[1], slow)))
    (was,) = sqlite3.connect(before).execute("SELECT verdict FROM members WHERE case_id = ? AND seed = 0",
                                              (wrong,)).fetchone()
    assert was != "diverging"
    result = invoke(before, after)
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert "regression: reachable integrator.name=dopri5 integrator.rtol=1e-06 integrator.atol=1e-08 seed 0: " \
           f"verdict {was} -> diverging (expect converged)" in lines
    assert any(line.startswith("regression: sad integrator.name=bosh3") and "error against the reference" in line
               for line in lines)
    assert any(line.startswith("regression: sad integrator.name=dopri5 integrator.rtol=1e-06") and "slower" in line
               for line in lines)
    assert lines[-1].startswith("3 regressions, 0 improvements, 1 verdict changes")
    reverse = invoke(after, before)
    assert reverse.exit_code == 0, reverse.output
    assert reverse.stdout.splitlines()[-1].startswith("0 regressions, 3 improvements, 1 verdict changes")


def test_a_case_that_fails_in_b_is_a_regression(before, tmp_path):
    broken = case_id(before, "sad", "bosh3", 1e-6)
    after = edited(before, tmp_path, ("UPDATE cases SET error = 'RuntimeError: boom' WHERE case_id = ?", (broken,)),
                   ("DELETE FROM members WHERE case_id = ?", (broken,)))
    comparison = compare(before, after)
    assert comparison.regressions == ["sad integrator.name=bosh3 integrator.rtol=1e-06 integrator.atol=1e-08: case "
                                      "regression: RuntimeError: boom"]
    assert compare(after, before).improvements[0].endswith("case improvement: runs again")


def test_cases_in_one_file_only_are_listed_not_failed(before, tmp_path):
    gone = case_id(before, "sad", "bosh3", 1e-6)
    after = edited(before, tmp_path, ("DELETE FROM cases WHERE case_id = ?", (gone,)))
    result = invoke(before, after)
    assert result.exit_code == 0 and "only in A: sad integrator.name=bosh3" in result.stdout


@pytest.mark.parametrize("a, b, mark", [
    ([1.0, 1.1, 1.2], [1.0, 1.1, 1.2], ""),  # identical
    ([1.0, 1.1, 1.2], [1.5, 1.6, 1.7], "+"),  # beyond the factor, no overlap
    ([1.0, 1.1, 1.2], [0.5, 0.55, 0.6], "-"),
    ([1.0, 1.1, 2.0], [1.3, 1.4, 1.5], "~"),  # 1.27× but the samples overlap: noise
    ([1.0, 1.1, 1.2], [1.05, 1.15, 1.25], "~"),  # within the factor
    ([1.0], [2.0], "~"),  # one sample each: the noise is unknown
])
def test_speed_is_significant_only_beyond_the_factor_and_the_spread(a, b, mark):
    ratio, got = speed({"wall_times": a, "wall_time": None}, {"wall_times": b, "wall_time": None}, factor=1.1)
    assert got == mark and ratio == pytest.approx(sorted(b)[len(b) // 2] / sorted(a)[len(a) // 2])


@pytest.mark.parametrize("before_, after_, expect, kind", [
    ("converged", "converged", "converged", None),
    ("undecided", "converged", "converged", "improvement"),
    ("converged", "undecided", "converged", "regression"),
    ("diverging", "undecided", "converged", "improvement"),  # no longer wrong
    ("undecided", "diverging", "converged", "regression"),  # now wrong
    ("diverging", "directional", "converged", "change"),  # wrong either way
    ("converged", "diverging", None, "regression"),  # a decided verdict changed, nothing says which is right
    ("undecided", "converged", None, "improvement"),
    ("converged", "failed", None, "regression"),
    ("failed", "undecided", "converged", "improvement"),
])
def test_verdict_changes(before_, after_, expect, kind):
    assert verdict_change(before_, after_, expect) == kind


def test_results_dir_can_name_the_commit(tmp_path):
    """``--results 'DIR/{commit}'`` keeps each commit's results apart, for comparing two commits."""
    from sadbench.suites.environment import git_state

    git = git_state()
    suite = Path(__file__).resolve().parent / "suites" / "tiny.yaml"
    result = CliRunner().invoke(build_cli(), ["run", str(suite), "--results", str(tmp_path / "{commit}"), "-k", "toy"])
    if not git:
        assert result.exit_code == 1 and "{commit} needs sadbench installed from a git checkout" in result.stderr
        return
    assert result.exit_code == 0, result.output
    folder = git["commit"][:12] + ("-dirty" if git["dirty"] else "")
    assert (tmp_path / folder / "tiny.sqlite").is_file()


TINY = Path(__file__).resolve().parent / "suites" / "tiny.yaml"


def test_one_suite_under_two_settings_is_compared_by_label(tmp_path):
    """--set integrator.rtol=... changes the toy's settings (the line sets its own integrator) but not its
    label: by settings the toy does not pair up, by label it does, and the settings that differ are listed."""
    a = run_suite(load_suite(TINY), tmp_path / "a").path
    b = run_suite(load_suite(TINY, overrides=["integrator.rtol=1e-10"]), tmp_path / "b").path
    by_settings = compare(a, b)
    assert [row[4] for row in by_settings.speeds] == ["line"]
    assert by_settings.only_a == by_settings.only_b == ["toy"] and by_settings.settings == []
    by_label = compare(a, b, match="label")
    assert by_label.only_a == by_label.only_b == [] and len(by_label.speeds) == 2
    assert by_label.settings == ["integrator.rtol: 1e-08 -> 1e-10"]
    assert by_label.regressions == [] and by_label.verdicts == []  # the toy converges at either tolerance
    result = invoke(a, b, "--match", "label")
    assert result.exit_code == 0, result.output
    assert "settings that differ between the matched cases:\n  integrator.rtol: 1e-08 -> 1e-10" in result.stdout
