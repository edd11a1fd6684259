"""The report's own figures, drawn from :mod:`sadbench.report.analysis` results on matplotlib's object-oriented API
(no pyplot, so no global backend is touched): verdict phase diagrams, median curves with seed bands,
times to divergence, work–precision diagrams and performance profiles. Per-seed trajectory figures come
from :mod:`sadbench.report.plots`."""

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from sadbench.verdicts.observables import r_product
from sadbench.verdicts.verdict import LABELS

#: One colour per verdict, the same in every figure and in the interactive view.
VERDICT_COLOURS = {"converged": "#2ca02c", "diverging": "#d62728", "directional": "#9467bd",
                   "undecided": "#b0b0b0", "failed": "#222222"}
#: Colours of groups, cases and integrators: tab10 without the verdict colours' green, red, purple and grey,
#: so that a line's colour never looks like a verdict.
GROUP_COLOURS = ("#1f77b4", "#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#393b79", "#637939")


def group_colour(k):
    return GROUP_COLOURS[k % len(GROUP_COLOURS)]
_SHORT = {"converged": "conv", "diverging": "div", "directional": "dir", "undecided": "und", "failed": "fail"}


def _short(text, width=28):
    return text if len(text) <= width else text[: width - 1] + "…"


def phase_diagram(diagram, label=lambda key, value: value):
    """One cell per pair of axis values, coloured by the verdict mix (a weighted blend of the verdict colours)
    and labelled with the counts; ``label(key, value)`` writes an axis value for a reader."""
    nx, ny = len(diagram.xs), len(diagram.ys)
    fig = Figure(figsize=(1.2 + 1.5 * nx, 0.9 + 0.9 * ny), layout="constrained")
    ax = fig.subplots()
    image = np.ones((ny, nx, 3))
    for (x, y), counts in diagram.counts.items():
        i, j = diagram.ys.index(y), diagram.xs.index(x)
        total = sum(counts.values())
        image[i, j] = sum(np.array(to_rgb(VERDICT_COLOURS[v])) * n for v, n in counts.items()) / total
        text = "\n".join(f"{_SHORT[v]} {counts[v]}" for v in LABELS if counts[v])
        ax.text(j, i, text, ha="center", va="center", fontsize=7, color="white" if image[i, j].mean() < 0.55
                else "black")
    ax.imshow(image, aspect="auto", origin="lower")
    xs = [_short(label(diagram.x_key, x), 18) for x in diagram.xs]
    ys = [_short(label(diagram.y_key, y), 22) if diagram.y_key else "" for y in diagram.ys]
    ax.set_xticks(range(nx), xs, fontsize=8, rotation=30 if nx > 4 else 0)
    ax.set_yticks(range(ny), ys, fontsize=8)
    ax.set_xlabel(diagram.x_key)
    ax.set_ylabel(diagram.y_key or "")
    fig.legend(handles=[Patch(color=VERDICT_COLOURS[v], label=v) for v in LABELS], loc="outside right upper",
               fontsize=7)
    return fig


_CURVES = (("loss", "L", "log"), ("norm", "||θ||", "linear"), ("R", "R = ||θ||·||∇L||", "log"))


def median_curves(groups):
    """L, ||θ|| and R(t) against t: per case the median over seeds with a 10–90 % band; ``groups`` maps a
    legend label to a list of seed series (dicts of arrays keyed by column, "t" among them). A member that
    stopped early (a detector decided) has fewer saved times: after its last one it leaves the statistics."""
    fig = Figure(figsize=(13, 3.8), layout="constrained")
    axes = fig.subplots(1, len(_CURVES))
    for k, (label, series) in enumerate(groups.items()):
        t = np.unique(np.concatenate([s["t"] for s in series]))
        keep = t > 0
        for ax, (name, _, _) in zip(axes, _CURVES):
            stack = np.array([r_product(_on_times(s, "norm", t), _on_times(s, "grad_norm", t)) if name == "R"
                              else _on_times(s, name, t) for s in series])[:, keep]
            if not np.isfinite(stack).any(axis=0).any():
                continue
            lo, mid, hi = np.nanpercentile(stack, [10, 50, 90], axis=0)
            ax.plot(t[keep], mid, color=group_colour(k), lw=1.2, label=_short(label, 48) if ax is axes[0] else None)
            ax.fill_between(t[keep], lo, hi, color=group_colour(k), alpha=0.15, lw=0)
    for ax, (_, title, yscale) in zip(axes, _CURVES):
        ax.set(xscale="log", yscale=yscale, xlabel="t", title=title)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=6, loc="lower left")
    return fig


def _on_times(series, name, t):
    """``series[name]`` on the times ``t`` (a superset of the series' own), NaN where it has no value."""
    values = np.full(t.size, np.nan)
    values[np.searchsorted(t, series["t"])] = series[name]
    return values


def divergence(times, horizon, factor):
    """Empirical fraction of the members in ``times`` (those with a divergent verdict) whose ||θ|| has passed
    ``factor``·||θ(0)|| by time t, per group."""
    fig = Figure(figsize=(6.5, 3.8), layout="constrained")
    ax = fig.subplots()
    for k, (label, values) in enumerate(times.items()):
        values = np.sort(np.asarray(values, dtype=float))
        finite = values[np.isfinite(values)]
        steps_t = np.concatenate([finite, [horizon]]) if finite.size else np.array([horizon])
        fraction = np.concatenate([np.arange(1, finite.size + 1), [finite.size]]) / max(values.size, 1)
        ax.step(steps_t, fraction, where="post", color=group_colour(k), label=f"{_short(label, 40)} ({finite.size}/"
                f"{values.size})")
    ax.set(xscale="log", ylim=(-0.02, 1.02), xlabel="t", ylabel="fraction of divergent members",
           title=f"time to divergence: first t with ||θ|| > {factor:g}·||θ(0)||")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=6, loc="upper left")
    return fig


def work_precision(points):
    """Median gradient evaluations against median error per problem (one panel each, up to six), one line
    per integrator through its tolerances; the reference run is not drawn (its error is zero)."""
    names = list(dict.fromkeys(p.problem for p in points))[:6]
    fig = Figure(figsize=(4.2 * len(names), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(names)))
    integrators = list(dict.fromkeys(p.setting.split()[0] for p in points))
    for ax, name in zip(axes, names):
        for k, integrator in enumerate(integrators):
            mine = sorted((p for p in points if p.problem == name and p.setting.split()[0] == integrator
                           and not p.is_reference and np.isfinite(p.error) and p.error > 0),
                          key=lambda p: p.tightness)
            if mine:
                ax.plot([p.error for p in mine], [p.n_grad for p in mine], "o-", color=group_colour(k), ms=4,
                        label=integrator)
        ax.set(xscale="log", yscale="log", xlabel="error vs tightest run", ylabel="gradient evaluations",
               title=_short(name, 48))
        for axis in (ax.xaxis, ax.yaxis):  # 1, 2, 5 per decade, written plainly: readable over any range
            axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return fig


def performance_profiles(profiles):
    """ρ_s(τ) against log2 τ, one panel per cost measure."""
    fig = Figure(figsize=(5.5 * len(profiles), 3.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(profiles)))
    for ax, (measure, profile) in zip(axes, profiles.items()):
        finite = np.concatenate([r[np.isfinite(r)] for r in profile.ratios.values()] + [np.ones(1)])
        tau_max = max(2.0, 1.1 * finite.max())
        for k, solver in enumerate(profile.solvers):
            r = profile.ratios[solver]
            r = r[np.isfinite(r)]
            taus = np.concatenate([[1.0], r, [tau_max]])
            rho = np.concatenate([[np.mean(profile.ratios[solver] <= 1.0)], np.arange(1, r.size + 1), [r.size]])
            rho[1:] /= max(profile.n_problems, 1)
            ax.step(np.log2(taus), rho, where="post", color=group_colour(k), label=solver)
        ax.set(xlabel="log2 τ", ylabel="ρ(τ)", ylim=(-0.02, 1.02),
               title=f"{measure}, {profile.n_problems} problems")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    return fig
