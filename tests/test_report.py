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

from browser import Browser, find_chromium
from sadbench.cli import build_cli
from sadbench.report.labels import case_text, value_text
from sadbench.suites.runner import run_suite
from sadbench.suites.suite import load_suite
from sadbench.verdicts.verdict import LABELS

GRID = Path(__file__).resolve().parent / "suites" / "grid.yaml"
PNG = b"\x89PNG\r\n\x1a\n"
# No divergence figure: at t = 300 every member is undecided, and only divergent verdicts have a time to divergence
FIGURES = {"phase", "curves-0", "curves-1", "seeds-0", "seeds-1", "work-precision", "profiles"}


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
        assert row["label"] == case_text(case["label"]) and int(row["seeds"]) == len(stored) == 2
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
        cell = (value_text("target.Y", params["target"]["Y"]), params["integrator"]["name"])
        expected.update((cell, m["verdict"]) for m in members(db, case["case_id"]))
    rows = page.rows("phase-counts")
    assert list(rows[0])[:2] == ["target.Y", "integrator.name"]
    got = Counter({((r["target.Y"], r["integrator.name"]), v): int(r[v]) for r in rows for v in LABELS if int(r[v])})
    assert got == expected and sum(int(r["members"]) for r in rows) == 12


def test_times_to_divergence_count_only_members_with_a_divergent_verdict(report, tmp_path):
    """The reachable toy's ||θ|| more than doubles on its way to its limit: with verdict converged it must not
    count as diverged. The SAD toy's members, made diverging here, are timed from their stored norms."""
    page, out, db = report
    assert page.rows("divergence-times")[0]["divergent verdict"] == "0"  # every member is undecided at t = 300
    path = tmp_path / "labelled.sqlite"
    path.write_bytes((out.parent / "results" / "grid.sqlite").read_bytes())
    edit = sqlite3.connect(path)
    with edit:
        for case_id, params in edit.execute("SELECT case_id, params FROM cases").fetchall():
            verdict = "diverging" if json.loads(params)["label"].startswith("sad") else "converged"
            edit.execute("UPDATE members SET verdict = ? WHERE case_id = ?", (verdict, case_id))
    edit.close()
    result = CliRunner().invoke(build_cli(), ["report", str(path), "--out", str(tmp_path / "out"), "--format", "html",
                                              "--no-seed-figures"])
    assert result.exit_code == 0, result.output
    labelled = Page((tmp_path / "out" / "report.html").read_text())
    assert "divergence" in labelled.figures
    times = {}
    for case in db.execute("SELECT case_id, params FROM cases"):
        params = json.loads(case["params"])
        group = value_text("target.Y", params["target"]["Y"])
        for m in members(db, case["case_id"]):
            t, norm = series(db, case["case_id"], m["seed"], "norm")
            above = np.flatnonzero(norm > 2.0 * norm[0])
            if params["label"].startswith("sad"):
                times.setdefault(group, []).append(t[above[0]] if above.size else np.inf)
            else:
                assert above.size  # the converged twin's norm did double: the old report counted it diverged
    rows = {r["target.Y"]: r for r in labelled.rows("divergence-times")}
    assert rows["[0.924, 1.52]"]["divergent verdict"] == "0" and rows["[0.924, 1.52]"]["members"] == "6"
    sad = rows["[1, 2]"]
    finite = [t for t in times["[1, 2]"] if np.isfinite(t)]
    counts = (int(sad["members"]), int(sad["divergent verdict"]), int(sad["||θ|| > 2·||θ(0)||"]))
    assert counts == (6, 6, len(finite))
    assert sad["median time"] == format(float(np.median(finite)), ".6g")


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
    bosh3 = rows[("Y=[1, 2]", "bosh3 rtol=1e-06")]
    assert bosh3["error"] == format(float(np.median(errors)), ".6g") and bosh3["reference"] == ""
    assert rows[("Y=[1, 2]", "dopri5 rtol=1e-10")]["reference"] == "yes"
    assert rows[("Y=[1, 2]", "dopri5 rtol=1e-10")]["error"] == "0"


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


def test_labels_are_written_for_a_reader():
    assert value_text("network.widths", "[1,10,20,10,1]") == "1-10-20-10-1"
    assert value_text("target.Y", "[0.9242343145200195,1.5231883119115293]") == "[0.924, 1.52]"
    assert value_text("target.X", [[1], [2], [3], [4], [5]]) == "5×1 values"
    assert value_text("integrator.rtol", "1e-10") == "1e-10" and value_text("integrator.rtol", 1e-10) == "1e-10"
    assert value_text("network.bias", True) == "yes"
    assert case_text("sad integrator.name=dopri5 integrator.rtol=1e-06") == "sad dopri5 rtol=1e-06"
    assert case_text("x network.widths=[1,10,20,10,1] network.activation=gelu target.n=64") == \
        "x 1-10-20-10-1 gelu n=64"
    assert case_text("tanh [1,8,1] polynomial") == "tanh 1-8-1 polynomial"  # a label made without one


def test_no_raw_arrays_in_what_the_page_shows(report):
    """Tables, captions and headings: no JSON arrays of full-precision floats, no dotted key=value labels."""
    page, out, _ = report
    cells = [cell for rows in page.tables.values() for row in rows for cell in row]
    text = re.sub(r"<script.*?</script>", "", (out / "report.html").read_text(), flags=re.S)
    for shown in cells + re.findall(r"<(?:figcaption|h2|summary)>(.*?)</", text):
        assert not re.search(r"\[-?\d+\.\d{6,}", shown), shown
        assert not re.search(r"\b(?:integrator|network|target)\.\w+=", shown), shown


def test_grounds_show_every_field_a_verdict_carries(report, tmp_path):
    """Fields beyond detector, time, L*, reason and evidence (premises, grounds, a forecast) get their own
    column, whatever their names."""
    page, out, db = report
    grounds = page.rows("grounds")
    assert len(grounds) == 12 and {r["verdict"] for r in grounds} == {"undecided"}
    path = tmp_path / "premises.sqlite"
    path.write_bytes((out.parent / "results" / "grid.sqlite").read_bytes())
    edit = sqlite3.connect(path)
    with edit:
        for case_id, seed, verdict in edit.execute("SELECT case_id, seed, verdict_json FROM members").fetchall():
            extra = {**json.loads(verdict), "premises": {"L > 0 everywhere": True, "n": 2},
                     "forecast": [1.5e-3, 2.25]}
            edit.execute("UPDATE members SET verdict_json = ? WHERE case_id = ? AND seed = ?",
                         (json.dumps(extra), case_id, seed))
    edit.close()
    result = CliRunner().invoke(build_cli(), ["report", str(path), "--out", str(tmp_path / "out"), "--format", "html",
                                              "--no-seed-figures"])
    assert result.exit_code == 0, result.output
    rows = Page((tmp_path / "out" / "report.html").read_text()).rows("grounds")
    assert {r["premises"] for r in rows} == {"L > 0 everywhere = yes; n = 2"}
    assert {r["forecast"] for r in rows} == {"0.0015, 2.25"}
    stored = json.loads(db.execute("SELECT verdict_json FROM members LIMIT 1").fetchone()[0])
    assert rows[0]["reason"] == stored["reason"] and rows[0]["at t"] == format(stored["time"], ".4g")


@pytest.mark.skipif(find_chromium() is None, reason="no Chromium to test the page in")
def test_the_page_in_a_real_browser(report):
    """Headless Chromium loads the page without console errors; every figure decodes to a non-empty image; the
    interactive view draws one SVG path per member, filters by parameter, and shows a member under the mouse."""
    _, out, db = report
    browser = Browser(find_chromium())
    try:
        browser.open((out / "report.html").resolve().as_uri())
        sizes = browser.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
        assert len(sizes) == len(FIGURES) and all(ok and w > 0 and h > 0 for ok, w, h in sizes)
        paths = "document.querySelectorAll('#sb-plot path.sb-line').length"
        assert browser.evaluate(paths) == 12
        assert browser.evaluate("document.getElementById('sb-count').textContent") == "showing 12 of 12 trajectories"
        axis = browser.evaluate("Array.from(document.querySelectorAll('select[data-key]')).map(s => s.dataset.key)")
        assert axis[0] == "target.Y"
        browser.evaluate("(() => { const s = document.querySelector('select[data-key=\"target.Y\"]'); s.value = '0';"
                         " s.dispatchEvent(new Event('change')); })()")
        assert browser.evaluate(paths) == 6  # the SAD toy's six members
        browser.evaluate("(() => { const b = document.getElementById('sb-verdict-undecided'); b.checked = false;"
                         " b.dispatchEvent(new Event('change')); })()")
        assert browser.evaluate(paths) == 0
        browser.evaluate("(() => { const b = document.getElementById('sb-verdict-undecided'); b.checked = true;"
                         " b.dispatchEvent(new Event('change')); })()")
        x, y = browser.evaluate("""(() => { const p = document.querySelector('#sb-plot path.sb-line');
            p.scrollIntoView({block: 'center'}); const q = p.getPointAtLength(p.getTotalLength() / 2);
            const m = p.getScreenCTM(); return [q.x * m.a + q.y * m.c + m.e, q.x * m.b + q.y * m.d + m.f]; })()""")
        browser.mouse(x, y)
        display, text = browser.evaluate("(() => { const t = document.getElementById('sb-tooltip');"
                                         " return [t.style.display, t.textContent]; })()")
        labels = {case_text(label) for (label,) in db.execute("SELECT label FROM cases")}
        assert display == "block" and text.split(",")[0] in labels and ": undecided (" in text
        browser.evaluate("(() => { const s = document.getElementById('sb-quantity'); s.value = 'R';"
                         " s.dispatchEvent(new Event('change')); })()")  # R = ||θ||·||∇L||, formed in the page
        assert browser.evaluate(paths) == 6  # the target.Y filter still holds
        assert browser.evaluate("document.querySelector('#sb-plot text[transform]').textContent") == "R = ||θ||·||∇L||"
        assert browser.errors() == []
    finally:
        browser.close()
