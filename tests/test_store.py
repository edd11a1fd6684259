"""The results store: what a run writes reads back unchanged, keys follow the provenance, failed cases are
kept and retried on request, and several processes writing at once never corrupt the file."""

import json
import multiprocessing
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import sadbench
from sadbench.errors import SadbenchError
from sadbench.suites.provenance import DTYPE, provenance, result_key
from sadbench.suites.runner import integrate_case, plan, run_suite
from sadbench.suites.store import SERIES_COLUMNS, CaseRecord, Store, open_results
from sadbench.suites.suite import load_suite

SUITES = Path(__file__).resolve().parent / "suites"


def test_round_trip_of_cases_members_and_series(tmp_path):
    suite = load_suite(SUITES / "tiny.yaml")
    report = run_suite(suite, tmp_path)
    assert report.path == tmp_path / "tiny.sqlite" and not report.skipped
    assert report.case_ids == [task.case_id for task in plan(suite)]
    with open_results(report.path) as store:
        assert store.meta()["sadbench_version"] == sadbench.__version__
        assert store.meta()["schema"] == "4" and "created_at" in store.meta()
        rows = store.cases(report.case_ids)
        for row, case, record in zip(rows, suite.cases, report.results):
            assert row["params"] == case.params and row["label"] == case.label
            assert row["provenance"] == record.provenance and row["provenance"]["dtype"] == DTYPE
            assert (row["activation"], row["widths"], row["loss"], row["n_seeds"]) == ("tanh", [1, 1, 1], "mse", 2)
            assert row["error"] is None and row["wall_time"] == record.wall_time
            sol = integrate_case(case, suite.registry, SUITES)
            for e, member in enumerate(store.members(row["case_id"])):
                assert member["status"] == sol.status[e] and member["verdict"] == sol.verdict[e].label
                assert (member["loss_final"], member["norm_final"]) == (sol.loss_final[e], sol.norm_final[e])
                assert member["grad_norm_final"] == sol.grad_norm_final[e]
                assert (member["n_grad"], member["n_steps"], member["n_rejected"]) == (
                    sol.n_grad[e], sol.n_steps[e], sol.n_rejected[e])
                assert member["verdict_json"]["detector"] == sol.verdict[e].detector
                assert member["integrator_stats"] == (sol.integrator_stats[e] if sol.integrator_stats else None)
                series = store.series(row["case_id"], member["seed"])
                for name in SERIES_COLUMNS:
                    np.testing.assert_array_equal(series[name], getattr(sol.member_trace(e), name))
    assert rows[0]["expect"] == "converged" and rows[1]["expect"] is None


def test_store_is_plain_sqlite_in_wal_mode(tmp_path):
    report = run_suite(load_suite(SUITES / "tiny.yaml"), tmp_path)
    connection = sqlite3.connect(report.path)
    assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    (params,) = connection.execute("SELECT params FROM cases WHERE label = 'toy'").fetchone()
    assert json.loads(params)["network"]["widths"] == [1, 1, 1]
    assert connection.execute("SELECT COUNT(*) FROM members").fetchone() == (4,)


def test_the_key_covers_settings_and_provenance():
    suite = load_suite(SUITES / "with_plugin.yaml")
    params = suite.cases[0].params
    origin = provenance(params, suite.registry)
    assert origin["sadbench"] == sadbench.__version__ and origin["dtype"] == "float64"
    assert origin["plugins"]["integrator:dopri5"] == f"sadbench {sadbench.__version__}"
    assert origin["plugins"]["target:ramp"].startswith("sha256:")  # a local plugin file: its content
    assert origin["plugins"]["detector:loss_below"] == origin["plugins"]["target:ramp"]
    key = result_key(params, origin)
    assert result_key(params, origin) == key
    assert result_key({**params, "integrator": {"name": "dopri5", "rtol": 1e-9}}, origin) != key
    assert result_key(params, {**origin, "sadbench": "9.9"}) != key
    assert result_key(params, {**origin, "dtype": "float32"}) != key
    edited = {**origin, "plugins": {**origin["plugins"], "target:ramp": "sha256:0000"}}
    assert result_key(params, edited) != key


def test_failed_cases_are_kept_skipped_and_retried_on_request(tmp_path):
    suite = load_suite(SUITES / "one_broken.yaml")
    report = run_suite(suite, tmp_path)
    assert [r.error for r in report.results] == [None, "RuntimeError: this target is broken on purpose", None]
    with open_results(report.path) as store:
        first, broken, last = store.cases(report.case_ids)
        assert 'raise RuntimeError("this target is broken on purpose")' in broken["traceback"]
        assert store.members(broken["case_id"]) == [] and len(store.members(last["case_id"])) == 2
        assert store.outcomes() == {first["case_id"]: "finished", broken["case_id"]: "failed",
                                    last["case_id"]: "finished"}
    again = run_suite(suite, tmp_path)
    assert again.results == [] and [t.label for t in again.skipped] == ["first", "last"]
    assert [t.label for t in again.failed_before] == ["broken"]
    retried = run_suite(suite, tmp_path, retry_failed=True)
    assert [r.label for r in retried.results] == ["broken"] and not retried.failed_before
    assert [r.label for r in run_suite(suite, tmp_path, rerun=True).results] == ["first", "broken", "last"]


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


def _record(writer, i):
    """A synthetic two-member case with a 50-point series, as a worker would send it."""
    params = {"network": {"activation": "tanh", "widths": [1, 2, 1]}, "target": {"name": "points"},
              "loss": "mse", "integrator": {"name": "dopri5"}, "expect": None, "seeds": [0, 1], "i": i}
    t = np.linspace(0.0, 1.0, 50)
    members = [{"seed": s, "status": "success", "t_final": 1.0, "loss_final": 1.0 / (i + 1), "norm_final": 2.0,
                "grad_norm_final": 0.1, "n_grad": 10 * i, "n_steps": i, "n_rejected": 0, "verdict": "undecided",
                "verdict_json": {"writer": writer}} for s in (0, 1)]
    series = {s: {name: (t * (i + s)).tolist() for name in SERIES_COLUMNS} for s in (0, 1)}
    return CaseRecord(f"w{writer}-{i}", "synthetic", f"case {i}", params, {}, 0.1, f"writer {writer}",
                      members=members, series=series)


def _write_many(path, writer, count):
    with Store(path) as store:
        for i in range(count):
            store.save(_record(writer, i))


def test_concurrent_writers_never_corrupt_the_file(tmp_path):
    path, writers, count = tmp_path / "shared.sqlite", 4, 25
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=_write_many, args=(path, w, count)) for w in range(writers)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
        assert p.exitcode == 0
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert connection.execute("SELECT COUNT(*) FROM cases").fetchone() == (writers * count,)
    assert connection.execute("SELECT COUNT(*) FROM members").fetchone() == (writers * count * 2,)
    assert connection.execute("SELECT COUNT(*) FROM series").fetchone() == (writers * count * 2 * 50,)
    with open_results(path) as store:
        series = store.series("w3-7", 1)
        np.testing.assert_array_equal(series["loss"], np.linspace(0.0, 1.0, 50) * 8)


def test_a_file_that_is_not_a_results_file_is_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database, just text" * 100)
    with pytest.raises(SadbenchError, match=f"^{junk}: not a sadbench results file"):
        open_results(junk)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)")
    with pytest.raises(SadbenchError) as info:
        Store(other)
    assert str(info.value) == f"{other}: an SQLite file, but not a sadbench results file; left as it is"


_FORMAT_4_CASE_COLUMNS = ("run_id", "wall_times", "wall_time_min", "wall_time_median", "compile_time", "repeat")


def _downgrade_to_format_3(connection):
    """What a format-3 file looked like: no runs table, no run or timing columns in cases."""
    connection.executescript("DROP TABLE runs; " + "".join(f"ALTER TABLE cases DROP COLUMN {c}; "
                                                           for c in _FORMAT_4_CASE_COLUMNS) +
                             "UPDATE meta SET value = '3' WHERE key = 'schema';")


def test_a_format_2_file_is_migrated_and_keeps_its_results(tmp_path):
    """Format 3 adds members.integrator_stats and the states table; a format-2 file gains them on opening."""
    report = run_suite(load_suite(SUITES / "tiny.yaml"), tmp_path)
    connection = sqlite3.connect(report.path)
    _downgrade_to_format_3(connection)
    connection.executescript("DROP TABLE states; ALTER TABLE members DROP COLUMN integrator_stats; "
                             "UPDATE meta SET value = '2' WHERE key = 'schema';")
    connection.close()
    with open_results(report.path) as store:
        assert store.meta()["schema"] == "4"
        assert len(store.members()) == 4 and all(m["integrator_stats"] is None for m in store.members())
        assert store.latest_state("any lineage", 1e9) is None
        assert store.runs() == [] and all(case["run_id"] is None for case in store.cases())


def test_a_format_3_file_is_migrated_keeps_its_results_and_takes_new_runs(tmp_path):
    """Format 4 adds the runs table and the cases' run id and timing columns; old cases keep their values
    (NULL in the new columns), and a new run writes into the migrated file."""
    suite = load_suite(SUITES / "tiny.yaml")
    report = run_suite(suite, tmp_path)
    with open_results(report.path) as store:
        before = store.cases()
    connection = sqlite3.connect(report.path)
    _downgrade_to_format_3(connection)
    connection.close()
    with open_results(report.path) as store:
        assert store.meta()["schema"] == "4" and store.runs() == []
        migrated = store.cases()
    for old, new in zip(before, migrated):
        assert {k: new[k] for k in old if k not in _FORMAT_4_CASE_COLUMNS + ("finished_at",)} == \
            {k: old[k] for k in old if k not in _FORMAT_4_CASE_COLUMNS + ("finished_at",)}
        assert all(new[c] is None for c in _FORMAT_4_CASE_COLUMNS)
    again = run_suite(suite, tmp_path, rerun=True)
    with open_results(again.path) as store:
        (run,) = store.runs()
        assert [case["run_id"] for case in store.cases()] == [run["run_id"]] * 2
