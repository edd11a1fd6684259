"""``sadbench compare A B``: two results files side by side, with an exit status that can gate CI.

Cases are matched by their settings (params without the label), not by their store ids, which also hash
the sadbench version: a case run by two versions or two commits is the same case. With ``match="label"``
they are matched by label instead, to compare one suite run under two settings (``sadbench run --set
integrator.name=...``), and the settings that differ are listed. For each matched case:

- **verdicts**, member by member (by seed). A change is a *regression* when B is wrong against the case's
  ``expect`` and A was not, when A had decided (converged, diverging, directional) and B says something else
  without an ``expect`` to back it, or when B failed; the reverse is an *improvement*.
- **L\\* and final L**: the largest relative change over the members, listed when above ``rtol``; a change
  of numbers alone is not a regression (the verdicts and errors say whether it matters).
- **error** against the tightest-tolerance run of the same problem (where a file runs a problem with
  several integrator settings, as the report's work–precision section): a regression when B's error
  exceeds ``factor`` × A's and 1e-14.
- **speed**: the ratio of median wall times (B / A), as ``asv compare`` prints it. With repeats on both sides
  (``sadbench run --repeat N``) the difference is significant when the ratio is beyond ``factor`` *and* the
  samples do not overlap (B's fastest is slower than A's slowest, or the reverse), so the noise of the
  repeats sets the threshold; with a single sample the ratio is shown but marked ``~`` (noise unknown).

A case failing in B but not A is a regression too; cases in only one file are listed. Exit status 1 when
there is a regression, else 0: identical inputs compare clean.
"""

import json
import statistics
from dataclasses import dataclass, field

from sadbench.report.analysis import Results as _Analysis, work_precision
from sadbench.report.table import render
from sadbench.results.frames import flatten
from sadbench.suites.store import open_results

DECIDED = ("converged", "diverging", "directional")
ERROR_FLOOR = 1e-14


def settings_key(params):
    return json.dumps({k: v for k, v in params.items() if k != "label"}, sort_keys=True, default=str)


def label_key(params):
    return params["label"]


MATCHES = {"settings": settings_key, "label": label_key}


def settings_changes(a, b):
    """"key: A -> B" for every setting (dotted key, the label left out) that differs between two cases' params."""
    fa, fb = flatten(a), flatten(b)
    fa.pop("label", None)
    fb.pop("label", None)
    return [f"{key}: {fa.get(key, '(unset)')} -> {fb.get(key, '(unset)')}" for key in sorted(fa.keys() | fb.keys())
            if fa.get(key) != fb.get(key)]


@dataclass
class Side:
    """One results file read for comparison: cases by settings key, members by (key, seed), errors by key."""

    path: str
    cases: dict
    members: dict
    errors: dict
    runs: list

    def describe(self):
        commits = []
        for run in self.runs:
            git = (run["environment"] or {}).get("git") or {}
            if git.get("commit"):
                commits.append(git["commit"][:12] + (" (dirty)" if git.get("dirty") else ""))
        versions = sorted({(c["provenance"] or {}).get("sadbench", "?") for c in self.cases.values()})
        at = f", commit {', '.join(dict.fromkeys(commits))}" if commits else ", commit not recorded"
        return f"{self.path}: {len(self.cases)} cases, sadbench {', '.join(versions) or '?'}{at}"


def read_side(path, key=settings_key):
    with open_results(path) as store:
        cases = {}
        for case in sorted(store.cases(), key=lambda c: c["finished_at"] or ""):
            cases[key(case["params"])] = case  # the latest of cases run by several versions
        chosen = {case["case_id"] for case in cases.values()}
        members = {}
        for member in store.members():
            if member["case_id"] in chosen:
                members.setdefault(member["case_id"], {})[member["seed"]] = member
        analysis = _Analysis(store)
        by_id = {c["case_id"]: key for key, c in cases.items()}
        errors = {by_id[p.problem]: p.error for p in work_precision(analysis, lambda c: c["case_id"])
                  if p.problem in by_id and not p.is_reference}
        runs = [run for run in store.runs() if any(c["run_id"] == run["run_id"] for c in cases.values())]
    members = {key: members.get(case["case_id"], {}) for key, case in cases.items()}
    return Side(str(path), cases, members, errors, runs)


def verdict_change(before, after, expect):
    """"regression", "improvement" or "change" for a member whose verdict went from ``before`` to ``after``."""
    if before == after:
        return None
    if after == "failed":
        return "regression"
    if before == "failed":
        return "improvement"
    if expect is not None:
        right_before, right_after = before == expect, after == expect
        wrong_before = before in DECIDED and not right_before
        wrong_after = after in DECIDED and not right_after
        if right_after and not right_before or wrong_before and not wrong_after:
            return "improvement"
        if right_before and not right_after or wrong_after and not wrong_before:
            return "regression"
        return "change"
    if before in DECIDED:
        return "regression"
    return "improvement" if after in DECIDED else "change"


def _relative(a, b):
    """|b − a| relative to the larger; 0 when both are missing (None or NaN), NaN when only one is."""
    missing_a, missing_b = a is None or a != a, b is None or b != b
    if missing_a or missing_b:
        return float("nan") if missing_a != missing_b else 0.0
    if a == b:
        return 0.0
    return abs(b - a) / max(abs(a), abs(b), 1e-300)


def _samples(case):
    samples = case.get("wall_times") or ([case["wall_time"]] if case["wall_time"] is not None else [])
    return [s for s in samples if s is not None]


def speed(a, b, factor):
    """(ratio B/A of the median wall times, mark): mark "+" slower, "-" faster, "~" not significant (within
    ``factor`` or the repeats' spread, or a single sample), "" unchanged or unknown."""
    sa, sb = _samples(a), _samples(b)
    if not sa or not sb or statistics.median(sa) <= 0:
        return float("nan"), ""
    ratio = statistics.median(sb) / statistics.median(sa)
    if ratio == 1.0:
        return ratio, ""
    beyond = ratio > factor or ratio < 1.0 / factor
    if not beyond:
        return ratio, "~" if ratio != 1.0 else ""
    if len(sa) < 2 or len(sb) < 2:
        return ratio, "~"
    if ratio > 1 and min(sb) > max(sa):
        return ratio, "+"
    if ratio < 1 and max(sb) < min(sa):
        return ratio, "-"
    return ratio, "~"


@dataclass
class Comparison:
    """What differs between two sides; ``regressions`` decides the exit status."""

    a: Side
    b: Side
    rtol: float
    verdicts: list = field(default_factory=list)  # [label, seed, before, after, expect, kind]
    numbers: list = field(default_factory=list)  # [label, L* change, L change, error A, error B, mark]
    speeds: list = field(default_factory=list)  # [median A, median B, ratio, mark, label, repeats]
    settings: list = field(default_factory=list)  # "key: A -> B" of the cases matched by label
    only_a: list = field(default_factory=list)
    only_b: list = field(default_factory=list)
    regressions: list = field(default_factory=list)
    improvements: list = field(default_factory=list)


def _fmt(seconds):
    return "n/a" if seconds != seconds else f"{seconds * 1e3:.3g}ms" if seconds < 1 else f"{seconds:.3g}s"


def compare(path_a, path_b, factor=1.1, rtol=1e-6, match="settings"):
    """The :class:`Comparison` of the results files ``path_a`` (before) and ``path_b`` (after), their cases
    paired by ``match`` ("settings" or "label")."""
    if match not in MATCHES:
        raise ValueError(f"match must be one of {', '.join(MATCHES)}, got {match!r}")
    a, b = read_side(path_a, MATCHES[match]), read_side(path_b, MATCHES[match])
    out = Comparison(a, b, rtol)
    out.only_a = [a.cases[k]["label"] for k in a.cases if k not in b.cases]
    out.only_b = [b.cases[k]["label"] for k in b.cases if k not in a.cases]
    for key, ca in a.cases.items():
        cb = b.cases.get(key)
        if cb is None:
            continue
        label = cb["label"]
        out.settings += [change for change in settings_changes(ca["params"], cb["params"])
                         if change not in out.settings]
        if (ca["error"] is None) != (cb["error"] is None):
            kind = "regression" if cb["error"] is not None else "improvement"
            (out.regressions if kind == "regression" else out.improvements).append(f"{label}: case {kind}: "
                                                                                   f"{cb['error'] or 'runs again'}")
        if ca["error"] is None and cb["error"] is None:
            _compare_members(out, label, ca["expect"], a.members[key], b.members[key])
        _compare_numbers(out, key, label, a, b, factor, rtol)
        ratio, mark = speed(ca, cb, factor)
        sa, sb = _samples(ca), _samples(cb)
        out.speeds.append([_fmt(statistics.median(sa)) if sa else "n/a", _fmt(statistics.median(sb)) if sb else "n/a",
                           "n/a" if ratio != ratio else f"{ratio:.2f}", mark, label, f"{len(sa)}/{len(sb)}"])
        if mark == "+":
            out.regressions.append(f"{label}: {ratio:.2f}× slower (median of {len(sb)} vs {len(sa)} repeats)")
        elif mark == "-":
            out.improvements.append(f"{label}: {1 / ratio:.2f}× faster")
    return out


def _compare_members(out, label, expect, before, after):
    for seed in sorted(set(before) | set(after)):
        va = before[seed]["verdict"] if seed in before else "failed"
        vb = after[seed]["verdict"] if seed in after else "failed"
        kind = verdict_change(va, vb, expect)
        if kind is None:
            continue
        out.verdicts.append([label, seed, va, vb, expect or "", kind])
        message = f"{label} seed {seed}: verdict {va} -> {vb}" + (f" (expect {expect})" if expect else "")
        if kind == "regression":
            out.regressions.append(message)
        elif kind == "improvement":
            out.improvements.append(message)


def _limit(member):
    return (member.get("verdict_json") or {}).get("limit_loss")


def _compare_numbers(out, key, label, a, b, factor, rtol):
    ma, mb = a.members[key], b.members[key]
    common = sorted(set(ma) & set(mb))
    limit = max((_relative(_limit(ma[s]), _limit(mb[s])) for s in common), default=0.0)
    loss = max((_relative(ma[s]["loss_final"], mb[s]["loss_final"]) for s in common), default=0.0)
    ea, eb = a.errors.get(key), b.errors.get(key)
    mark = ""
    if ea is not None and eb is not None and eb == eb:
        if eb > factor * ea and eb > ERROR_FLOOR:
            mark = "+"
            out.regressions.append(f"{label}: error against the reference {ea:.3g} -> {eb:.3g}")
        elif ea > factor * eb and ea > ERROR_FLOOR:
            mark = "-"
            out.improvements.append(f"{label}: error against the reference {ea:.3g} -> {eb:.3g}")
    if limit > rtol or loss > rtol or limit != limit or mark:
        out.numbers.append([label, f"{limit:.3g}", f"{loss:.3g}", "" if ea is None else f"{ea:.3g}",
                            "" if eb is None else f"{eb:.3g}", mark])


def text(comparison, only_changed=False):
    """The comparison as the terminal shows it: sides, speed table, verdict and number changes, summary."""
    c = comparison
    lines = [f"A (before): {c.a.describe()}", f"B (after):  {c.b.describe()}", ""]
    if c.settings:
        lines += ["settings that differ between the matched cases:", *(f"  {change}" for change in c.settings), ""]
    speeds = [row for row in c.speeds if row[3] in ("+", "-")] if only_changed else c.speeds
    if speeds:
        lines += [render(["before", "after", "ratio", "", "case", "repeats A/B"], speeds), ""]
        lines.append("ratio: median wall time B / A; + slower, - faster (beyond --factor and the repeats' "
                     "spread); ~ within the noise or a single sample")
        lines.append("")
    if c.verdicts:
        lines += ["verdict changes:", render(["case", "seed", "before", "after", "expect", "kind"], c.verdicts), ""]
    if c.numbers:
        lines += [f"numbers that changed (relative change above {c.rtol:g}, or error beyond --factor):",
                  render(["case", "L* change", "L change", "error A", "error B", ""], c.numbers), ""]
    for name, labels in (("only in A", c.only_a), ("only in B", c.only_b)):
        if labels:
            lines.append(f"{name}: {', '.join(labels)}")
    lines += [f"regression: {message}" for message in c.regressions]
    lines += [f"improvement: {message}" for message in c.improvements]
    lines.append(f"{len(c.regressions)} regressions, {len(c.improvements)} improvements, "
                 f"{len(c.verdicts)} verdict changes, {len(c.numbers)} cases with changed numbers")
    return "\n".join(lines)
