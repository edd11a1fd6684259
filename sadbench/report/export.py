"""Results as CSV or JSON lines, for tools that do not read SQLite (pandas, R, spreadsheets, jq).

Values round-trip: floats are written in full precision (``repr``), and the JSON columns (params,
provenance, widths, verdict_json) stay nested in JSON lines and are JSON text in CSV. SQLite stores NaN as
NULL, so a missing or non-finite value is an empty CSV field and ``null`` in JSON.
"""

import csv
import json

from sadbench.suites.store import CASE_COLUMNS, JSON_COLUMNS, MEMBER_COLUMNS, SERIES_COLUMNS

FORMATS = ("csv", "jsonl")
TABLES = ("members", "cases", "series")
_CASE_FIELDS = tuple(c for c in CASE_COLUMNS if c != "traceback")  # tracebacks only in the cases table
_COLUMNS = {
    "cases": CASE_COLUMNS,
    "members": _CASE_FIELDS + MEMBER_COLUMNS[1:],
    "series": ("case_id", "label", "seed") + SERIES_COLUMNS,
}


def rows(store, table):
    """The rows of ``table`` as dicts with the columns of :data:`_COLUMNS` (values decoded)."""
    cases = store.cases()
    if table == "cases":
        yield from cases
        return
    members = {}
    for member in store.members():
        members.setdefault(member["case_id"], []).append(member)
    for case in cases:
        head = {c: case[c] for c in _CASE_FIELDS}
        if table == "members":
            for member in members.get(case["case_id"]) or [{}]:  # a failed case: one row without a member
                yield {**head, **{c: member.get(c) for c in MEMBER_COLUMNS[1:]}}
            continue
        for member in members.get(case["case_id"], []):
            series = store.series(case["case_id"], member["seed"])
            for q in range(len(series["t"])):
                yield {"case_id": case["case_id"], "label": case["label"], "seed": member["seed"],
                       **{name: _finite(series[name][q]) for name in SERIES_COLUMNS}}


def _finite(value):
    value = float(value)
    return value if value == value else None


def _csv_cell(column, value):
    if value is None:
        return ""
    return json.dumps(value) if column in JSON_COLUMNS else value


def export(store, table, fmt, stream):
    """Write ``table`` of ``store`` to ``stream`` in ``fmt`` ("csv" or "jsonl")."""
    columns = _COLUMNS[table]
    if fmt == "csv":
        writer = csv.writer(stream)
        writer.writerow(columns)
        for row in rows(store, table):
            writer.writerow([_csv_cell(c, row[c]) for c in columns])
        return
    for row in rows(store, table):
        stream.write(json.dumps({c: row[c] for c in columns}) + "\n")
