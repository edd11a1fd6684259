"""Figures of trajectories: L, ||θ||, ||∇L||, R(t) = ||θ||·||∇L|| and 1 − cos(θ, −∇L) against t, log axes.

Every quantity the theory speaks about is a power or a logarithm of t (docs/science.md §2, §4), so every panel
is log-log (||θ|| on a log x-axis only: its growth is slow). A line's colour is its verdict (the report's
colours, :data:`~sadbench.report.figures.VERDICT_COLOURS`); its dash pattern tells the cases of a figure apart.
Figures are built on matplotlib's
object-oriented API, without pyplot, so no global backend is touched; each is written as PNG and SVG.
"""

import re
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from sadbench.report.figures import VERDICT_COLOURS
from sadbench.report.labels import case_text, pair_text
from sadbench.suites.store import open_results
from sadbench.verdicts.observables import r_product

PANELS = (
    ("loss", "L", "log"),
    ("norm", "||θ||", "linear"),
    ("grad_norm", "||∇L||", "log"),
    ("R", "R = ||θ||·||∇L||", "log"),
    ("misalignment", "1 − cos(θ, −∇L)", "log"),
)
_MARKERS = {"converged": "o", "diverging": "^", "directional": "D", "undecided": "X", "failed": "s"}
_DASHES = ("-", "--", ":", "-.")


def _columns(series):
    """The plotted columns from saved series (t, loss, norm, grad_norm, align), at t > 0."""
    t = np.asarray(series["t"], dtype=float)
    keep = t > 0
    out = {name: np.asarray(series[name], dtype=float)[keep] for name in ("loss", "norm", "grad_norm")}
    out["R"] = r_product(out["norm"], out["grad_norm"])
    out["misalignment"] = 1.0 - np.asarray(series["align"], dtype=float)[keep]
    out["t"] = t[keep]
    return out


def _figure(lines, title):
    """Five panels and a legend; ``lines`` are (legend label, case index, columns, verdict, verdict time): the
    colour is the verdict's, the dash pattern the case's."""
    fig = Figure(figsize=(14.0, 7.5), layout="constrained")
    grid = fig.subplots(2, 3).ravel()
    axes, legend_ax = grid[: len(PANELS)], grid[len(PANELS)]
    for ax, (_, name, yscale) in zip(axes, PANELS):
        ax.set_xscale("log")
        ax.set_yscale(yscale)
        ax.set_xlabel("t")
        ax.set_title(name)
        ax.grid(True, which="major", alpha=0.3)
    cases = {}
    for label, case, cols, verdict, when in lines:
        style = _DASHES[case % len(_DASHES)]
        cases.setdefault(label, style)
        colour = VERDICT_COLOURS.get(verdict, "#555555")
        for ax, (name, _, yscale) in zip(axes, PANELS):
            y = np.where(cols[name] > 0, cols[name], np.nan) if yscale == "log" else cols[name]
            ax.plot(cols["t"], y, color=colour, ls=style, lw=1.0, alpha=0.85)
            if verdict in _MARKERS and np.isfinite(when) and when > 0 and cols["t"].size:
                ax.plot([when], [np.interp(np.log(when), np.log(cols["t"]), y)], _MARKERS[verdict],
                        color=colour, mec="black", mew=0.5, ms=5)
    legend_ax.axis("off")
    verdicts = [v for v in VERDICT_COLOURS if any(line[3] == v for line in lines)]
    handles = [Line2D([], [], color=VERDICT_COLOURS[v], marker=_MARKERS[v], mec="black", mew=0.5, label=v)
               for v in verdicts]
    handles += [Line2D([], [], color="#555555", ls=style, label=label) for label, style in cases.items()]
    legend_ax.legend(handles=handles, fontsize=8, loc="upper left", frameon=False)
    fig.suptitle(title + "   (markers: verdict time; " +
                 ", ".join(f"{m} {v}" for v, m in _MARKERS.items()) + ")", fontsize=9)
    return fig


def _write(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name[: -len(path.suffix)] if path.suffix in (".png", ".svg") else path.name
    written = [path.parent / (stem + suffix) for suffix in (".png", ".svg")]
    for target in written:
        fig.savefig(target, dpi=120)
    return written


def plot_solution(sol, path, title=None):
    """Plot every member of a :class:`~sadbench.Solution`; writes ``path`` as .png and .svg, returns both."""
    verdicts = sol.verdict if isinstance(sol.verdict, list) else [sol.verdict]
    lines = []
    for e in range(sol.ensemble_size):
        trace = sol.member_trace(e)
        verdict = verdicts[e] if e < len(verdicts) and verdicts[e] is not None else None
        label = f"member {e}" + (f": {verdict.label}" if verdict else "")
        series = {name: getattr(trace, name) for name in ("t", "loss", "norm", "grad_norm", "align")}
        lines.append((label, e, _columns(series), verdict.label if verdict else None,
                      verdict.time if verdict else np.nan))
    return _write(_figure(lines, title or f"{sol.integrator}, {sol.ensemble_size} member(s)"), path)


def _key(case, key):
    """A case's value for ``key``: a column of the cases table, or a dotted path into its params."""
    if key in case and key != "params":
        value = case[key]
    else:
        value = case["params"]
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, list):
        return "[" + ",".join(map(str, value)) + "]"
    return value if isinstance(value, str) else repr(value)


def _filename(text):
    return re.sub(r"[^A-Za-z0-9_.=,\[\]-]+", "_", text).strip("_") or "all"


def seed_figures(results_path, group_by="activation"):
    """``{group value: Figure}``: one figure of every seed per value of ``group_by`` (a cases column such as
    activation, loss, target, integrator, label or expect, or a dotted params path such as network.widths),
    one dash pattern per case, one line per seed coloured by its verdict; failed cases are left out."""
    groups = {}
    with open_results(results_path) as store:
        for case in store.cases():
            if case["error"] is not None:
                continue
            lines = groups.setdefault(_key(case, group_by), [])
            members = store.members(case["case_id"])
            verdicts = [m["verdict"] for m in members]
            label = case_text(case["label"]) + "  " + ", ".join(f"{v} ×{verdicts.count(v)}"
                                                                for v in dict.fromkeys(verdicts))
            index = len({line[1] for line in lines})
            for m in members:
                when = (m["verdict_json"] or {}).get("time", np.nan)
                lines.append((label, index, _columns(store.series(case["case_id"], m["seed"])), m["verdict"],
                              np.nan if when is None else float(when)))
    return {value: _figure(lines, pair_text(group_by, value)) for value, lines in groups.items()}


def plot_results(results_path, out_dir, group_by="activation"):
    """Write :func:`seed_figures` of a results file written by ``sadbench run`` as PNG and SVG files named
    ``GROUP_BY=VALUE``; returns the files written."""
    written = []
    for value, fig in seed_figures(results_path, group_by).items():
        written += _write(fig, Path(out_dir) / _filename(f"{group_by}={value}"))
    return written
