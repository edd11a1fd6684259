"""``sadbench.open_results``' DataFrames hold the stored values (read here with plain sqlite3, not through
sadbench's readers), and ``sadbench export`` writes them as Parquet, CSV and JSON lines that read back equal."""

import json
import math
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import sadbench
from sadbench.cli import build_cli
from sadbench.results.frames import CASE_COLUMNS, MEMBER_COLUMNS, SERIES_COLUMNS
from sadbench.suites.runner import run_suite
from sadbench.suites.suite import load_suite

SUITE = Path(__file__).resolve().parent / "suites" / "one_broken.yaml"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_suite(load_suite(SUITE), tmp_path_factory.mktemp("export"), repeat=2).path


def sql(path, query, *args):
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in connection.execute(query, args)]
    finally:
        connection.close()


def same(a, b):
    """Equal values, where None, NaN and pandas' NA are all "missing"."""
    missing = lambda v: v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))
    return (missing(a) and missing(b)) or (not missing(a) and not missing(b) and a == b)


def test_cases_frame_has_a_row_per_stored_case_with_params_as_columns(results):
    cases = sadbench.open_results(results).cases()
    stored = sql(results, "SELECT * FROM cases ORDER BY rowid")
    assert list(cases["case_id"]) == [row["case_id"] for row in stored]
    assert list(cases.columns[:3]) == ["case_id", "suite", "label"] and set(CASE_COLUMNS) <= set(cases.columns)
    for (_, row), raw in zip(cases.iterrows(), stored):
        params = json.loads(raw["params"])
        assert row["network.activation"] == params["network"]["activation"] == "tanh"
        assert row["network.widths"] == "[1,2,1]" and row["target.name"] == params["target"]["name"]
        assert row["integrator.rtol"] == params["integrator"]["rtol"] == 1e-8
        assert same(row["target.slope"], params["target"].get("slope"))
        assert row["wall_time"] == raw["wall_time"] and row["wall_time_min"] == raw["wall_time_min"]
        assert row["repeat"] == raw["repeat"] and same(row["compile_time"], raw["compile_time"])
        members = sql(results, "SELECT * FROM members WHERE case_id = ?", raw["case_id"])
        verdicts = [m["verdict"] for m in members] or ["failed"] * 2
        assert (row["n_undecided"], row["n_failed"]) == (verdicts.count("undecided"), verdicts.count("failed"))
        assert row["status"] == ("failed" if raw["error"] else "finished") and same(row["error"], raw["error"])
        losses = sorted(m["loss_final"] for m in members)
        assert same(row["loss_final"], sum(losses) / 2 if losses else None)
    assert str(cases["target.n"].dtype) == "Int64" and cases["target.n"].isna().tolist() == [False, True, False]
    run = sql(results, "SELECT * FROM runs")[0]
    assert set(cases["run_id"]) == {run["run_id"]}
    assert set(cases["commit"]) == {json.loads(run["environment"])["git"].get("commit")}


def test_members_frame_has_a_row_per_member_and_one_per_failed_case(results):
    members = sadbench.open_results(results).members()
    assert [(r.label, None if pd.isna(r.seed) else r.seed) for r in members.itertuples()] == [
        ("first", 0), ("first", 1), ("broken", None), ("last", 0), ("last", 1)]
    assert list(members.columns[:3]) == ["case_id", "suite", "label"] and set(MEMBER_COLUMNS) <= set(members.columns)
    stored = {(m["case_id"], m["seed"]): m for m in sql(results, "SELECT * FROM members")}
    for row in members.itertuples():
        if pd.isna(row.seed):
            assert (row.status, row.verdict) == ("error", "failed") and row.error.startswith("RuntimeError")
            continue
        raw = stored[row.case_id, row.seed]
        verdict = json.loads(raw["verdict_json"])
        assert (row.verdict, row.status, row.n_grad, row.loss_final) == (raw["verdict"], raw["status"], raw["n_grad"],
                                                                        raw["loss_final"])
        assert row.reason == verdict["reason"] and json.loads(row.evidence) == verdict["evidence"]
        assert same(row.limit_loss, verdict["limit_loss"]) and row.verdict_time == verdict["time"]


def test_series_frame_has_a_row_per_saved_time(results):
    res = sadbench.open_results(results)
    series = res.series()
    stored = sql(results, "SELECT * FROM series")
    assert len(series) == len(stored) and list(series.columns[:3]) == ["case_id", "label", "seed"]
    assert list(series.columns[-len(SERIES_COLUMNS) + 3:]) == list(SERIES_COLUMNS[3:])
    assert "params.loss" in series and set(series["params.loss"]) == {"mse"}  # the loss function, not L
    first = series[(series["label"] == "first") & (series["seed"] == 1)]
    raw = sorted((r for r in stored if r["case_id"] == first["case_id"].iloc[0] and r["seed"] == 1),
                 key=lambda r: r["t"])
    assert first["t"].tolist() == [r["t"] for r in raw] and first["loss"].tolist() == [r["loss"] for r in raw]
    assert (first["R"] == first["norm"] * first["grad_norm"]).all()
    one = res.series(case_id=first["case_id"].iloc[0], seed=1, params=False)
    assert one["t"].tolist() == first["t"].tolist() and "network.activation" not in one


def test_environment_records_versions_commit_cpu_and_times(results):
    env = sadbench.open_results(results).environment()
    assert env["recorded"] and env["sadbench"] == sadbench.__version__
    import numba, numpy, scipy

    assert env["libraries"]["numpy"] == numpy.__version__ and env["libraries"]["numba"] == numba.__version__
    assert env["libraries"]["scipy"] == scipy.__version__ and env["python"].count(".") == 2
    assert env["cpu"]["cores"] >= 1 and env["cpu"]["model"] and env["gpu"] is None  # a cpu-only suite
    assert env["started_at"] <= env["finished_at"]
    git = env["git"]
    if (Path(sadbench.__file__).resolve().parents[1] / ".git").exists():
        assert len(git["commit"]) == 40 and isinstance(git["dirty"], bool)
    runs = sadbench.open_results(results).runs()
    assert len(runs) == 1 and runs["repeat"].tolist() == [2] and runs["numba"].tolist() == [numba.__version__]


@pytest.mark.parametrize("table", ["cases", "members", "series"])
def test_parquet_round_trip_is_exact(results, table, tmp_path):
    frame = getattr(sadbench.open_results(results), table)()
    out = tmp_path / f"{table}.parquet"
    result = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "parquet", "--table", table,
                                              "--out", str(out)])
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(pd.read_parquet(out), frame)


@pytest.mark.parametrize("table", ["cases", "members", "series"])
def test_csv_and_jsonl_read_back_to_the_frame(results, table, tmp_path):
    frame = getattr(sadbench.open_results(results), table)()
    jsonl = lambda p: pd.DataFrame([json.loads(line) for line in Path(p).read_text().splitlines()])
    for fmt, read in (("csv", pd.read_csv), ("jsonl", jsonl)):
        out = tmp_path / f"{table}.{fmt}"
        result = CliRunner().invoke(build_cli(), ["export", str(results), "--format", fmt, "--table", table,
                                                  "--out", str(out)])
        assert result.exit_code == 0, result.output
        back = read(out)
        assert list(back.columns) == list(frame.columns) and len(back) == len(frame)
        for column in frame.columns:
            for a, b in zip(frame[column].tolist(), back[column].tolist()):
                assert same(a, b) or (isinstance(a, float) and a == float(b)), (fmt, column, a, b)


def test_cli_writes_to_stdout_and_refuses_what_it_cannot_write(results, tmp_path):
    out = tmp_path / "members.jsonl"
    written = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "jsonl", "--out", str(out)])
    assert written.exit_code == 0
    to_stdout = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "jsonl"])
    assert to_stdout.stdout == out.read_text() and len(out.read_text().splitlines()) == 5
    wrong = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "xml"])
    assert wrong.exit_code == 2 and "'xml' is not one of 'parquet', 'csv', 'jsonl'" in wrong.stderr
    binary = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "parquet"])
    assert binary.exit_code == 1 and binary.stderr == "error: --format parquet writes a binary file: give --out PATH\n"
    nowhere = tmp_path / "missing" / "members.csv"
    unwritable = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "csv", "--out", str(nowhere)])
    assert unwritable.exit_code == 1
    assert unwritable.stderr == f"error: cannot write {nowhere}: No such file or directory\n"
    missing = CliRunner().invoke(build_cli(), ["export", str(tmp_path / "none.sqlite"), "--format", "csv"])
    assert missing.exit_code == 1 and missing.stderr == f"error: no results file at {tmp_path / 'none.sqlite'}\n"


def test_version_names_the_release_and_the_commit():
    result = CliRunner().invoke(build_cli(), ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith(f"sadbench {sadbench.__version__}")
    git = sadbench.suites.environment.git_state()
    if git:
        assert f"(git {git['commit'][:12]}" in result.stdout
