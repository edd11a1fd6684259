"""``sadbench export``: CSV and JSON lines that read back to exactly the stored values."""

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from sadbench.cli import build_cli
from sadbench.report.export import export
from sadbench.suites.runner import run_suite
from sadbench.suites.store import CASE_COLUMNS, JSON_COLUMNS, MEMBER_COLUMNS, SERIES_COLUMNS, open_results
from sadbench.suites.suite import load_suite

SUITE = Path(__file__).resolve().parent / "suites" / "one_broken.yaml"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return run_suite(load_suite(SUITE), tmp_path_factory.mktemp("export")).path


def expected(path, table):
    """The rows of ``table`` built here from the store's own readers."""
    with open_results(path) as store:
        cases = store.cases()
        if table == "cases":
            return cases
        rows = []
        for case in cases:
            head = {c: case[c] for c in CASE_COLUMNS if c != "traceback"}
            members = store.members(case["case_id"])
            if table == "members":
                rows += [{**head, **{c: m.get(c) for c in MEMBER_COLUMNS[1:]}} for m in members or [{}]]
                continue
            for m in members:
                series = store.series(case["case_id"], m["seed"])
                rows += [{"case_id": case["case_id"], "label": case["label"], "seed": m["seed"],
                          **{c: None if series[c][q] != series[c][q] else series[c][q] for c in SERIES_COLUMNS}}
                         for q in range(len(series["t"]))]
        return rows


def from_csv(text, like):
    """CSV cells back to values, typed like the expected rows (JSON columns decoded, '' is None)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    out = []
    for row, model in zip(rows, like):
        assert list(row) == list(model)
        out.append({c: None if row[c] == "" else json.loads(row[c]) if c in JSON_COLUMNS
                    else type(model[c])(row[c]) if model[c] is not None else row[c] for c in row})
    return out, len(rows)


@pytest.mark.parametrize("table", ["members", "cases", "series"])
def test_csv_round_trip(results, table):
    stream = io.StringIO()
    with open_results(results) as store:
        export(store, table, "csv", stream)
    want = expected(results, table)
    got, n = from_csv(stream.getvalue(), want)
    assert n == len(want) and got == want


@pytest.mark.parametrize("table", ["members", "cases", "series"])
def test_jsonl_round_trip(results, table):
    stream = io.StringIO()
    with open_results(results) as store:
        export(store, table, "jsonl", stream)
    assert [json.loads(line) for line in stream.getvalue().splitlines()] == expected(results, table)


def test_members_has_a_row_per_seed_and_one_per_failed_case(results):
    rows = expected(results, "members")
    assert [(r["label"], r["seed"]) for r in rows] == [("first", 0), ("first", 1), ("broken", None), ("last", 0),
                                                      ("last", 1)]
    assert rows[2]["error"] == "RuntimeError: this target is broken on purpose"


def test_cli_writes_to_a_file_or_to_stdout(results, tmp_path):
    out = tmp_path / "members.jsonl"
    result = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "jsonl", "--out", str(out)])
    assert result.exit_code == 0 and result.stdout == ""
    to_stdout = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "jsonl"])
    assert to_stdout.stdout == out.read_text() and len(out.read_text().splitlines()) == 5
    wrong = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "xml"])
    assert wrong.exit_code == 2 and "'xml' is not one of 'csv', 'jsonl'" in wrong.stderr
    nowhere = tmp_path / "missing" / "members.csv"
    unwritable = CliRunner().invoke(build_cli(), ["export", str(results), "--format", "csv", "--out", str(nowhere)])
    assert unwritable.exit_code == 1 and unwritable.stderr == f"error: cannot write {nowhere}: No such file or directory\n"
