"""``sadbench report`` renders every section, and its tables and figures match the stored results (read here
with plain sqlite3, not through sadbench's own readers)."""

import base64
import json
import re
import sqlite3
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sadbench.cli import build_cli
from sadbench.suites.runner import run_suite
from sadbench.suites.suite import load_suite
from sadbench.verdicts.verdict import LABELS

GRID = Path(__file__).resolve().parent / "suites" / "grid.yaml"
PNG = b"\x89PNG\r\n\x1a\n"
FIGURES = {"phase", "curves-0", "curves-1", "seeds-0", "seeds-1", "divergence", "work-precision", "profiles"}


class Page(HTMLParser):
    """The tables (by id, rows of cell texts) and figures (by id, PNG bytes) of a report page."""

    def __init__(self, text):
        super().__init__()
        self.tables, self.figures, self._table, self._row, self._cell, self._figure = {}, {}, None, None, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs["id"], [])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "figure":
            self._figure = attrs["id"]
        elif tag == "img":
            head, data = attrs["src"].split(",", 1)
            assert head == "data:image/png;base64"
            self.figures[self._figure] = base64.b64decode(data)

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th"):
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr":
            self._table.append(self._row)

    def rows(self, table):
        """The rows of a table as dicts keyed by its header."""
        header, *rows = self.tables[table]
        return [dict(zip(header, row)) for row in rows]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    path = run_suite(load_suite(GRID), tmp / "results").path
    result = CliRunner().invoke(build_cli(), ["report", str(path), "--out", str(tmp / "out")])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(tmp / "out" / "report.html"), str(tmp / "out" / "report.md")]
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    return Page((tmp / "out" / "report.html").read_text()), tmp / "out", db


def members(db, case_id):
    return db.execute("SELECT * FROM members WHERE case_id = ? ORDER BY seed", (case_id,)).fetchall()


def series(db, case_id, seed, column):
    rows = db.execute(f"SELECT t, {column} FROM series WHERE case_id = ? AND seed = ? ORDER BY t", (case_id, seed))
    return np.array([(t, np.nan if v is None else v) for t, v in rows], dtype=float).T


def test_every_figure_is_an_embedded_png_and_the_markdown_has_the_same_files(report):
    page, out, _ = report
    assert set(page.figures) == FIGURES
    assert all(png.startswith(PNG) for png in page.figures.values())
    markdown = (out / "report.md").read_text()
    linked = re.findall(r"!\[(?:[^\]\\]|\\.)*\]\(figures/([a-z0-9-]+)\.png\)", markdown)
    assert set(linked) == FIGURES
    assert all((out / "figures" / f"{name}.png").read_bytes() == page.figures[name] for name in linked)


def test_summary_table_equals_the_store(report):
    page, out, db = report
    rows = page.rows("summary")
    cases = db.execute("SELECT * FROM cases ORDER BY rowid").fetchall()
    assert [r["case_id"] for r in rows] == [c["case_id"] for c in cases] and len(rows) == 6
    for row, case in zip(rows, cases):
        stored = members(db, case["case_id"])
        assert row["label"] == case["label"] and int(row["seeds"]) == len(stored) == 2
        for column, key in (("median t_final", "t_final"), ("median L", "loss_final"),
                            ("median ||θ||", "norm_final"), ("median ||∇L||", "grad_norm_final"),
                            ("median grad evals", "n_grad")):
            assert row[column] == format(float(np.median([m[key] for m in stored])), ".6g")
        assert row["wall s"] == format(case["wall_time"], ".4g")
        counts = Counter(m["verdict"] for m in stored)
        assert row["verdicts"] == ", ".join(f"{v} ×{counts[v]}" for v in LABELS if counts[v])
    markdown = (out / "report.md").read_text()
    assert all(f"| {r['case_id']} | {r['label']} |" in markdown for r in rows)


def test_phase_counts_are_the_stored_verdicts(report):
    page, _, db = report
    expected = Counter()
    for case in db.execute("SELECT case_id, params FROM cases"):
        params = json.loads(case["params"])
        cell = (json.dumps(params["target"]["Y"], separators=(",", ":")), params["integrator"]["name"])
        expected.update((cell, m["verdict"]) for m in members(db, case["case_id"]))
    rows = page.rows("phase-counts")
    assert list(rows[0])[:2] == ["target.Y", "integrator.name"]
    got = Counter({((r["target.Y"], r["integrator.name"]), v): int(r[v]) for r in rows for v in LABELS if int(r[v])})
    assert got == expected and sum(int(r["members"]) for r in rows) == 12


def test_times_to_divergence_are_computed_from_the_stored_norms(report):
    page, _, db = report
    times = {}
    for case in db.execute("SELECT case_id, params FROM cases"):
        group = json.dumps(json.loads(case["params"])["target"]["Y"], separators=(",", ":"))
        for m in members(db, case["case_id"]):
            t, norm = series(db, case["case_id"], m["seed"], "norm")
            above = np.flatnonzero(norm > 2.0 * norm[0])
            times.setdefault(group, []).append(t[above[0]] if above.size else np.inf)
    rows = page.rows("divergence-times")
    assert {r["target.Y"] for r in rows} == set(times)
    for row in rows:
        finite = [t for t in times[row["target.Y"]] if np.isfinite(t)]
        assert (int(row["members"]), int(row["diverged"])) == (6, len(finite))
        assert row["median time (diverged)"] == (format(float(np.median(finite)), ".6g") if finite else "")


def test_work_precision_errors_are_measured_against_the_tightest_run(report):
    page, _, db = report
    cases = {(json.loads(c["params"])["target"]["Y"][0], json.loads(c["params"])["integrator"]["name"],
              json.loads(c["params"])["integrator"]["rtol"]): c["case_id"] for c in db.execute("SELECT * FROM cases")}
    run, ref = cases[(1, "bosh3", 1e-6)], cases[(1, "dopri5", 1e-10)]
    errors = []
    for seed in (0, 1):
        worst = 0.0
        for column in ("loss", "norm"):
            _, a = series(db, run, seed, column)
            _, b = series(db, ref, seed, column)
            worst = max(worst, np.nanmax(np.abs(a - b) / np.abs(b)))
        errors.append(worst)
    rows = {(r["problem"], r["setting"]): r for r in page.rows("work-precision-points")}
    assert len(rows) == 6
    bosh3 = rows[("target.Y=[1,2]", "bosh3 rtol=1e-06")]
    assert bosh3["error"] == format(float(np.median(errors)), ".6g") and bosh3["reference"] == ""
    assert rows[("target.Y=[1,2]", "dopri5 rtol=1e-10")]["reference"] == "yes"
    assert rows[("target.Y=[1,2]", "dopri5 rtol=1e-10")]["error"] == "0"


def test_performance_profile_counts_the_fastest_setting_per_problem(report):
    page, _, db = report
    costs = {}
    for case in db.execute("SELECT * FROM cases"):
        integrator = json.loads(case["params"])["integrator"]
        for m in members(db, case["case_id"]):
            key = (json.loads(case["params"])["target"]["Y"][0], m["seed"])
            costs.setdefault(key, {})[f"{integrator['name']} rtol={integrator['rtol']:g}"] = m["n_grad"]
    best = Counter(min(by_setting, key=by_setting.get) for by_setting in costs.values())
    rows = [r for r in page.rows("profile-summary") if r["cost"] == "gradient evaluations"]
    assert {r["setting"] for r in rows} == {"bosh3 rtol=1e-06", "dopri5 rtol=1e-06", "dopri5 rtol=1e-10"}
    for row in rows:
        assert int(row["problems"]) == 4 and row["ρ(∞)"] == "1.000"
        assert row["ρ(1)"] == format(best[row["setting"]] / 4, ".3f")


def test_bad_axes_name_the_axes_that_vary(report, tmp_path):
    _, out, _ = report
    path = out.parent / "results" / "grid.sqlite"
    result = CliRunner().invoke(build_cli(), ["report", str(path), "--out", str(tmp_path), "--axes",
                                              "integrator.name,network.activaton"])
    assert result.exit_code == 1 and result.stderr == (
        "error: --axes: 'network.activaton' is not a key of the stored cases; the varying axes are: "
        "target.Y, integrator.name, integrator.rtol\n")
    missing = CliRunner().invoke(build_cli(), ["report", str(tmp_path / "none.sqlite")])
    assert missing.exit_code == 1 and missing.stderr == f"error: no results file at {tmp_path / 'none.sqlite'}\n"


def test_median_curves_of_members_that_stopped_at_different_times():
    """A member a detector stopped early has fewer saved times; the curves use each member where it has
    values (the median of both where both do, the survivor's alone after)."""
    from sadbench.report.figures import median_curves

    t = np.array([0.0, 1.0, 10.0, 100.0])
    long = {"t": t, "loss": np.array([4.0, 2.0, 1.0, 0.5]), "norm": np.array([1.0, 2.0, 3.0, 4.0]),
            "grad_norm": np.array([1.0, 1.0, 0.5, 0.25])}
    short = {name: values[:3] * 3.0 for name, values in long.items()}
    short["t"] = t[:3]
    fig = median_curves({"case": [long, short]})
    loss_line, norm_line, r_line = (ax.lines[0] for ax in fig.axes[:3])
    np.testing.assert_array_equal(loss_line.get_xdata(), t[1:])
    np.testing.assert_allclose(loss_line.get_ydata(), [4.0, 2.0, 0.5])
    np.testing.assert_allclose(norm_line.get_ydata(), [4.0, 6.0, 4.0])
    np.testing.assert_allclose(r_line.get_ydata(), [(2.0 + 18.0) / 2, (1.5 + 13.5) / 2, 1.0])
