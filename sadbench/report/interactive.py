"""The report's interactive view: every member's trajectory as SVG, filtered by parameter and verdict, with
the case, seed, verdict and reason of the trajectory under the pointer.

Self-contained: the data go into the page as JSON and the script (``interactive.js``, plain JavaScript, no
library) inline, so the page works offline and from a file. Series (t, L, ||θ||, ||∇L||; R is their product,
formed in the page) are thinned to at most :data:`MAX_POINTS` points of 5 significant digits, and at most
:data:`MAX_MEMBERS` members are embedded: at about 10 bytes a number that bounds the data near 6 MB.
"""

import html
import json
import math
from importlib.resources import files

import numpy as np

from sadbench.report.figures import VERDICT_COLOURS
from sadbench.report.labels import case_text, key_text, value_text
from sadbench.report.sections import Raw, Section
from sadbench.verdicts.verdict import LABELS

MAX_POINTS = 80
MAX_MEMBERS = 2000
QUANTITIES = (("loss", "L", True), ("norm", "||θ||", False), ("grad_norm", "||∇L||", True),
              ("R", "R = ||θ||·||∇L||", True))
_STYLE = (".sb-controls label{margin-right:1em;font-size:13px;white-space:nowrap}"
          ".sb-swatch{display:inline-block;width:10px;height:10px;margin:0 3px 0 2px}"
          ".sb-count{font-size:12px;color:#555;margin:4px 0}#sadbench-explorer{position:relative}"
          ".sb-tooltip{display:none;position:absolute;background:#fff;border:1px solid #888;padding:3px 6px;"
          "font-size:12px;pointer-events:none;max-width:40em}")


def _thin(t):
    """At most MAX_POINTS indices, evenly spread in log t (every point when there are fewer)."""
    keep = np.flatnonzero(t > 0)
    if keep.size <= MAX_POINTS:
        return keep
    logs = np.log(t[keep])
    targets = np.linspace(logs[0], logs[-1], MAX_POINTS)
    return np.unique(keep[np.clip(np.searchsorted(logs, targets), 0, keep.size - 1)])


def _rounded(values):
    return [None if not math.isfinite(v) else float(f"{v:.5g}") for v in values]


def explorer_data(results):
    """The JSON the script reads: axes (key, label, values), verdict colours, quantities and members."""
    axes = results.axes
    values = {key: list(dict.fromkeys(results.value(case, key) for case in results.cases)) for key in axes}
    members, total = [], 0
    for case in results.cases:
        for m in results.members[case["case_id"]]:
            total += 1
            if len(members) >= MAX_MEMBERS:
                continue
            series = results.series(case["case_id"], m["seed"])
            index = _thin(series["t"])
            cols = {name: series[name] for name in ("t", "loss", "norm", "grad_norm")}
            members.append({
                "case": case_text(case["label"]), "seed": m["seed"], "verdict": m["verdict"],
                "reason": (m["verdict_json"] or {}).get("reason") or "",
                "axes": [values[key].index(results.value(case, key)) for key in axes],
                **{name: _rounded(column[index]) for name, column in cols.items()},
            })
    short = [key_text(key) for key in axes]
    labels = [s if short.count(s) == 1 else key for s, key in zip(short, axes)]  # network.widths, target.widths
    return {
        "axes": [{"key": key, "label": label, "values": [value_text(key, v) for v in values[key]]}
                 for key, label in zip(axes, labels)],
        "verdicts": list(LABELS), "colours": VERDICT_COLOURS, "quantities": [list(q) for q in QUANTITIES],
        "members": members, "total": total, "truncated": total > len(members),
    }


def _script_json(data):
    """JSON safe inside <script>: no "</" that could close the element."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).replace("</", "<\\/")


def interactive_section(results):
    script = files("sadbench.report").joinpath("interactive.js").read_text(encoding="utf-8")
    page = (f"<style>{_STYLE}</style><div id='sadbench-explorer'></div>"
            f"<script type='application/json' id='sadbench-data'>{_script_json(explorer_data(results))}</script>"
            f"<script>{script}</script>")
    text = ("Every member's trajectory, coloured by its verdict: pick a quantity, filter by parameter or verdict, and "
            "point at a line for its case, seed, verdict and reason.")
    note = "The interactive view is in report.html (it needs a browser)."
    return Section("Explore the trajectories", text, [Raw("explorer", page, html.escape(note))])
