"""``sadbench report``: a results file as a self-contained HTML page and a Markdown file with PNG figures.

The report is built once as sections of tables and figures, then rendered to each format, so the HTML
and the Markdown say the same thing. Every figure has the table of its numbers beside it, which is also
what the tests compare with the store.
"""

import base64
import html
import io
import re
from pathlib import Path

import numpy as np

from sadbench import __version__
from sadbench.report import figures
from sadbench.report.analysis import (DIVERGENT, MISSING, Results, performance_profile, phase_diagram, profile_costs,
                                      setting, time_to_divergence, verdict_counts, work_precision)
from sadbench.errors import SadbenchError
from sadbench.report.grounds import grounds_section
from sadbench.report.interactive import interactive_section
from sadbench.report.labels import case_text, describe, pair_text, value_text
from sadbench.report import plots
from sadbench.report.sections import Plot, Raw, Section, Table, number
from sadbench.suites.store import open_results
from sadbench.verdicts.verdict import LABELS

FORMATS = ("html", "md")
_FIGURE_NAME = re.compile(r"phase|divergence|work-precision|profiles|(curves|seeds)-[0-9]+")
_DPI = 90
_STYLE = ("body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em;color:#222}"
          "table{border-collapse:collapse;font-size:12px;margin:0.5em 0}td,th{border:1px solid #ccc;"
          "padding:2px 6px;text-align:left}th{background:#f0f0f0}img{max-width:100%}figcaption{font-size:12px;"
          "color:#555}pre{font-size:11px;background:#f7f7f7;padding:0.5em;overflow-x:auto}")


def _median(values):
    values = [v for v in values if v is not None]
    return float(np.median(values)) if values else None


def _png(fig):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _summary(results):
    rows = []
    for case in results.cases:
        members = results.members[case["case_id"]]
        med = lambda key: number(_median([m[key] for m in members]))
        rows.append([case["case_id"], case_text(case["label"]), setting(case["params"])[0], case["n_seeds"],
                     verdict_counts(results.verdicts(case)), med("t_final"), med("loss_final"), med("norm_final"),
                     med("grad_norm_final"), med("n_grad"), number(case["wall_time"], ".4g"), case["error"] or ""])
    headers = ["case_id", "label", "integrator", "seeds", "verdicts", "median t_final", "median L", "median ||θ||",
               "median ||∇L||", "median grad evals", "wall s", "error"]
    return Section("Summary", "One row per case; medians over its seeds.",
                   [Table("summary", "cases", headers, rows)])


def _check_axes(results, axes):
    if len(axes) > 2:
        raise SadbenchError(f"--axes takes one or two keys, got {len(axes)}: {', '.join(axes)}")
    known = set().union(*results.flat.values()) if results.flat else set()
    for key in axes:
        if key not in known:
            varying = ", ".join(results.axes) or "none"
            raise SadbenchError(f"--axes: {key!r} is not a key of the stored cases; the varying axes are: {varying}")


def _phase(results, axes):
    axes = list(axes) or results.axes[:2]
    if not axes:
        return Section("Verdict phase diagram", "Every case has the same settings: no axis to draw over.")
    diagram = phase_diagram(results, axes[0], axes[1] if len(axes) > 1 else None)
    rows = [[value_text(axes[0], x), value_text(axes[1], y) if len(axes) > 1 else "",
             *(counts[v] for v in LABELS), sum(counts.values())] for (x, y), counts in diagram.counts.items()]
    axes_text = " × ".join(axes)
    return Section("Verdict phase diagram", f"Verdicts of every seed over {axes_text}, summed over the other axes.",
                   [Plot("phase", f"verdicts over {axes_text}", _png(figures.phase_diagram(diagram, value_text))),
                    Table("phase-counts", "verdict counts per cell", [axes[0], axes[1] if len(axes) > 1 else "",
                                                                      *LABELS, "members"], rows)])


def _group_key(results, fewest):
    """What to group curves by: the problem axis with the fewest (``fewest``) or the most values; with
    fewer than two axes (``fewest``) or none, the whole suite."""
    axes = results.problem_axes or results.axes
    if not axes or (fewest and len(results.axes) < 2):
        return "suite"
    return min(axes, key=lambda key: len({results.value(c, key) for c in results.cases})) if fewest else axes[0]


def _describe(results, case, keys):
    """A case by its values on ``keys`` in words (``gelu 1-10-20-10-1 rtol=1e-10``), or by its label when
    there are none."""
    pairs = [(k, results.value(case, k)) for k in keys]
    return describe([(k, v) for k, v in pairs if v != MISSING]) or case_text(case["label"])


def _curves(results, path, with_seeds):
    key = _group_key(results, fewest=True)
    groups = {}
    for case in results.cases:
        series = [results.series(case["case_id"], m["seed"]) for m in results.members[case["case_id"]]]
        if series:
            groups.setdefault(results.value(case, key), {})[case_text(case["label"])] = series
    items = [Plot(f"curves-{i}", f"{pair_text(key, value)}: median over seeds, 10–90 % band",
                  _png(figures.median_curves(cases))) for i, (value, cases) in enumerate(groups.items())]
    if with_seeds:
        items += [Plot(f"seeds-{i}", f"every seed, {pair_text(key, value)}", _png(fig))
                  for i, (value, fig) in enumerate(plots.seed_figures(path, group_by=key).items())]
    return Section("L, ||θ|| and R(t)", f"Grouped by {key}. R = ||θ||·||∇L|| → 0 on the divergent branch "
                   "(docs/science.md §2).", items)


def _divergence(results, factor):
    """Times to divergence over the members whose verdict is divergent (diverging or directional) only: a
    converged flow whose ||θ|| doubles on its way to its limit has not diverged."""
    key = _group_key(results, fewest=False)
    times, counts, horizon = {}, {}, 0.0
    for case in results.cases:
        horizon = max(horizon, case["params"]["horizon"])
        group = value_text(key, results.value(case, key))
        members = results.members[case["case_id"]]
        counts[group] = counts.get(group, 0) + len(members)
        for m in members:
            if m["verdict"] in DIVERGENT:
                times.setdefault(group, []).append(
                    time_to_divergence(results.series(case["case_id"], m["seed"]), factor))
    text = (f"Over the members with a divergent verdict ({' or '.join(DIVERGENT)}) only, by {key}: the first "
            f"saved time at which ||θ|| > {factor:g}·||θ(0)||.")
    rows = [[group, n, len(times.get(group, [])), sum(np.isfinite(times.get(group, []))),
             number(_median([t for t in times.get(group, []) if np.isfinite(t)]))] for group, n in counts.items()]
    table = Table("divergence-times", "time to divergence", [key, "members", "divergent verdict",
                                                             f"||θ|| > {factor:g}·||θ(0)||", "median time"], rows)
    if not times:
        return Section("Time to divergence", text + " No member has a divergent verdict.", [table])
    return Section("Time to divergence", text,
                   [Plot("divergence", "fraction of the divergent members whose ||θ|| has grown by the factor, by "
                                       "time t", _png(figures.divergence(times, horizon, factor))), table])


def _solvers(results):
    keys = results.problem_axes
    points = work_precision(results, lambda case: _describe(results, case, keys))
    if not points:
        text = "The results do not run any problem with more than one integrator setting."
        return [Section("Work–precision", text), Section("Performance profiles", text)]
    rows = [[p.problem, p.setting, number(p.error), number(p.n_grad), "yes" if p.is_reference else ""]
            for p in points]
    work = Section("Work–precision", "Error: the largest relative difference in L and ||θ|| over the saved times, "
                   "against the tightest-tolerance run of the same problem; medians over seeds.",
                   [Plot("work-precision", "gradient evaluations against error", _png(figures.work_precision(points))),
                    Table("work-precision-points", "work–precision points",
                          ["problem", "setting", "error", "grad evals", "reference"], rows)])
    profiles = {measure: performance_profile(costs) for measure, costs in profile_costs(results).items()}
    rows = [[measure, solver, profile.n_problems, number(profile.rho(solver, 1.0), ".3f"),
             number(profile.rho(solver, np.inf), ".3f")]
            for measure, profile in profiles.items() for solver in profile.solvers]
    perf = Section("Performance profiles", "Dolan–Moré: ρ(τ) is the fraction of problems a setting solves within τ "
                   "times the best setting's cost. A failure, a run that did not reach its horizon or a wrong "
                   "verdict (against expect, else the reference run) costs ∞.",
                   [Plot("profiles", "performance profiles", _png(figures.performance_profiles(profiles))),
                    Table("profile-summary", "ρ(1): fastest; ρ(∞): solved",
                          ["cost", "setting", "problems", "ρ(1)", "ρ(∞)"], rows)])
    return [work, perf]


def _failures(results):
    failed = [case for case in results.cases if case["error"] is not None]
    rows = [[case["case_id"], case_text(case["label"]), case["error"]] for case in failed]
    text = "None." if not failed else "`sadbench run --retry-failed` runs them again."
    return Section("Failed cases", text, [Table("failed", "failed cases", ["case_id", "label", "error"], rows)]
                   if failed else [])


def build(path, axes=(), factor=2.0, seed_figures=True):
    """The report's title, header lines and sections for the results file at ``path``; ``seed_figures`` adds
    :mod:`sadbench.report.plots`' figure of every seed per group."""
    with open_results(path) as store:
        results = Results(store)
        if not results.cases:
            raise SadbenchError(f"{path}: no stored cases to report")
        _check_axes(results, axes)
        meta = store.meta()
        suites = sorted({case["suite"] for case in results.cases})
        n_members = sum(len(m) for m in results.members.values())
        head = [f"results: {path}", f"suite: {', '.join(suites)}",
                f"{len(results.cases)} cases, {n_members} members; written by sadbench {meta['sadbench_version']}, "
                f"reported by sadbench {__version__}"]
        sections = [_summary(results), _phase(results, axes), interactive_section(results),
                    _curves(results, path, seed_figures), grounds_section(results), _divergence(results, factor),
                    *_solvers(results), _failures(results)]
    return f"sadbench report: {', '.join(suites)}", head, sections


def _html_table(table):
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in table.headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in table.rows)
    text = f'<table id="{table.id}"><caption>{html.escape(table.caption)}</caption><tr>{head}</tr>{body}</table>'
    if table.collapsed:
        return f"<details><summary>{html.escape(table.caption)} ({len(table.rows)} rows)</summary>{text}</details>"
    return text


def render_html(title, head, sections):
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in head]
    for section in sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2><p>{html.escape(section.text)}</p>")
        for item in section.items:
            if isinstance(item, Table):
                parts.append(_html_table(item))
            elif isinstance(item, Raw):
                parts.append(item.html)
            else:
                data = base64.b64encode(item.png).decode()
                parts.append(f'<figure id="{item.id}"><img src="data:image/png;base64,{data}" '
                             f'alt="{html.escape(item.caption)}"><figcaption>{html.escape(item.caption)}'
                             "</figcaption></figure>")
    return "\n".join(parts) + "\n</body></html>\n"


def _md_cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_markdown(title, head, sections, figure_dir="figures"):
    lines = [f"# {title}", ""] + [f"- {_md_cell(line)}" for line in head]
    for section in sections:
        lines += ["", f"## {section.title}", "", section.text, ""]
        for item in section.items:
            if isinstance(item, Table):
                lines += ["| " + " | ".join(map(_md_cell, item.headers)) + " |",
                          "|" + "---|" * len(item.headers)]
                lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in item.rows]
            elif isinstance(item, Raw):
                lines.append(item.markdown)
            else:
                alt = item.caption.replace("[", "\\[").replace("]", "\\]")
                lines.append(f"![{alt}]({figure_dir}/{item.id}.png)")
            lines.append("")
    return "\n".join(lines)


def write_report(path, out_dir, formats=FORMATS, axes=(), factor=2.0, seed_figures=True):
    """Write ``report.html`` and/or ``report.md`` (with ``figures/*.png``) into ``out_dir``; returns the paths."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise SadbenchError(f"--format: expected a comma-separated list of {', '.join(FORMATS)}, got "
                            f"{','.join(formats) or 'nothing'}")
    title, head, sections = build(path, axes, factor, seed_figures)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "html" in formats:
        written.append(out / "report.html")
        written[-1].write_text(render_html(title, head, sections))
    if "md" in formats:
        folder = out / "figures"
        folder.mkdir(exist_ok=True)
        plots = {item.id: item.png for s in sections for item in s.items if isinstance(item, Plot)}
        for stale in folder.glob("*.png"):  # an earlier report's figures that this one does not have
            if stale.stem not in plots and _FIGURE_NAME.fullmatch(stale.stem):
                stale.unlink()
        for name, png in plots.items():
            (folder / f"{name}.png").write_bytes(png)
        written.append(out / "report.md")
        written[-1].write_text(render_markdown(title, head, sections))
    return written
