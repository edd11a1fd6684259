"""The results store: what a run writes reads back unchanged, and a failing case does not stop the others."""

import json
import sqlite3
from pathlib import Path

import numpy as np

import sadbench
from sadbench.runner import run_suite
from sadbench.store import SERIES_COLUMNS, open_results
from sadbench.suite import load_suite

SUITES = Path(__file__).resolve().parent / "suites"


def test_round_trip_of_cases_members_and_series(tmp_path):
    suite = load_suite(SUITES / "tiny.yaml")
    report = run_suite(suite, tmp_path)
    assert report.path == tmp_path / "tiny.sqlite" and not report.skipped
    with open_results(report.path) as store:
        assert store.meta()["sadbench_version"] == sadbench.__version__
        assert "created_at" in store.meta()
        cases = store.cases([case.case_id for case in suite.cases])
        for row, case, result in zip(cases, suite.cases, report.results):
            assert row["params"] == case.params and row["label"] == case.label
            assert (row["activation"], row["widths"], row["target"], row["loss"]) == ("tanh", [1, 1, 1],
                                                                                       case.params["target"]["name"],
                                                                                       "mse")
            assert row["error"] is None and row["wall_time"] == result.wall_time
            sol = result.solution
            for e, member in enumerate(store.members(case.case_id)):
                assert member["status"] == sol.status[e]
                assert member["grad_norm_final"] == sol.grad_norm_final[e]
                assert (member["n_steps"], member["n_rejected"]) == (sol.n_steps[e], sol.n_rejected[e])
                assert member["verdict_json"]["detector"] == sol.verdict[e].detector
                series = store.series(case.case_id, member["seed"])
                trace = sol.member_trace(e)
                for name in SERIES_COLUMNS:
                    np.testing.assert_array_equal(series[name], getattr(trace, name))
    assert cases[0]["expect"] == "converged" and cases[1]["expect"] is None


def test_store_is_plain_sqlite_in_wal_mode(tmp_path):
    report = run_suite(load_suite(SUITES / "tiny.yaml"), tmp_path)
    connection = sqlite3.connect(report.path)
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    (params,) = connection.execute("SELECT params FROM cases WHERE label = 'toy'").fetchone()
    assert json.loads(params)["network"]["widths"] == [1, 1, 1]
    assert connection.execute("SELECT COUNT(*) FROM members").fetchone() == (4,)


def test_a_failing_case_is_stored_with_its_error_and_the_others_finish(tmp_path):
    suite = load_suite(SUITES / "one_broken.yaml")
    lines = []
    report = run_suite(suite, tmp_path, progress=lines.append)
    assert [r.error for r in report.results] == [None, "RuntimeError: this target is broken on purpose", None]
    assert lines[3].startswith(
        f"[2/3] broken ({suite.cases[1].case_id}): failed: RuntimeError: this target is broken on purpose ("
    )
    with open_results(report.path) as store:
        first, broken, last = store.cases([case.case_id for case in suite.cases])
        assert broken["error"] == "RuntimeError: this target is broken on purpose"
        assert 'raise RuntimeError("this target is broken on purpose")' in broken["traceback"]
        assert store.members(broken["case_id"]) == []
        assert first["error"] is None and last["error"] is None
        assert len(store.members(last["case_id"])) == 2
        assert store.finished_ids() == {first["case_id"], last["case_id"]}
    again = run_suite(suite, tmp_path)
    assert [case.label for case in again.skipped] == ["first", "last"]
    assert [r.case.label for r in again.results] == ["broken"]


def test_a_file_target_is_read_relative_to_the_suite(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "line.csv").write_text("x,y\n-1,-0.5\n0,0\n1,0.5\n")
    suite_file = tmp_path / "from_file.yaml"
    suite_file.write_text((SUITES / "tiny.yaml").read_text().split("cases:")[0]
                          + "  target: {name: file, path: data/line.csv}\n")
    report = run_suite(load_suite(suite_file), tmp_path / "results")
    assert report.results[0].error is None
    with open_results(report.path) as store:
        assert store.cases()[0]["params"]["target"] == {"name": "file", "path": "data/line.csv", "seed": 0}
