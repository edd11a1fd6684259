"""The numbers behind a report, computed from a results file: grid axes, verdict counts over two axes,
work–precision points, Dolan–Moré performance profiles and times to divergence.

Kept apart from drawing so every figure's data can be printed beside it and tested against the store.
"""

import inspect
import json
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from sadbench.integrate import integrate
from sadbench.verdicts.verdict import LABELS

#: Statuses of a member that ran to its horizon or was ended by an event or a detector that had decided.
COMPLETED = ("success", "stop_norm", "stop_grad", "detector")
DECIDED = ("converged", "diverging", "directional")
#: The value of a key that a case does not have.
MISSING = "—"
#: Verdicts of a flow whose ||θ|| → ∞ ("directional" refines "diverging").
DIVERGENT = ("diverging", "directional")
_NOT_AXES = ("label", "seeds", "expect")
_DEFAULT_TOLERANCES = {name: inspect.signature(integrate).parameters[name].default for name in ("rtol", "atol")}


def flatten(params, prefix=""):
    """``{"network.activation": "tanh", "network.widths": "[1,8,1]", ...}``: every leaf of a case's params as
    a string, keyed by its dotted path (lists and detector specs are leaves)."""
    out = {}
    for key, value in params.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, path + "."))
        else:
            out[path] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return out


class Results:
    """A results file's cases (in stored order), their members, and series read on demand."""

    def __init__(self, store):
        self.store = store
        self.cases = store.cases()
        self.members = {case["case_id"]: [] for case in self.cases}
        for member in store.members():
            self.members.setdefault(member["case_id"], []).append(member)
        self._series = {}

    def series(self, case_id, seed):
        if (case_id, seed) not in self._series:
            self._series[case_id, seed] = self.store.series(case_id, seed)
        return self._series[case_id, seed]

    @cached_property
    def flat(self):
        return {case["case_id"]: flatten(case["params"]) for case in self.cases}

    @cached_property
    def axes(self):
        """The dotted keys whose values differ between cases: problem axes before integrator ones, most
        distinct values first. Keys varied together (a zip group) split the cases alike; only the first
        of them is kept."""
        keys = dict.fromkeys(k for flat in self.flat.values() for k in flat if k.split(".")[0] not in _NOT_AXES)
        seen, varying = set(), []
        for key in keys:
            values = [self.value(case, key) for case in self.cases]
            index = {v: i for i, v in enumerate(dict.fromkeys(values))}
            partition = tuple(index[v] for v in values)
            if len(index) > 1 and partition not in seen:
                seen.add(partition)
                varying.append((key.startswith("integrator."), -len(index), len(varying), key))
        return [key for *_, key in sorted(varying)]

    @property
    def problem_axes(self):
        return [key for key in self.axes if not key.startswith("integrator.")]

    def value(self, case, key):
        """A case's value for a dotted params key or a cases column (suite, label, ...), as a string."""
        value = self.flat[case["case_id"]].get(key, case.get(key, MISSING))
        return value if isinstance(value, str) else json.dumps(value)

    def verdicts(self, case):
        """The verdict of every seed; a failed case counts "failed" for each of its seeds."""
        if case["error"] is not None:
            return ["failed"] * case["n_seeds"]
        return [m["verdict"] for m in self.members[case["case_id"]]]


@dataclass
class PhaseDiagram:
    """Verdict counts per cell of two axes (``y_key`` is None for a one-axis diagram)."""

    x_key: str
    y_key: str | None
    xs: list
    ys: list
    counts: dict = field(default_factory=dict)  # (x, y) -> Counter of verdict labels


def phase_diagram(results, x_key, y_key=None):
    """Verdict counts over the values of ``x_key`` and ``y_key``, summed over every other axis."""
    xs, ys, counts = {}, {}, {}
    for case in results.cases:
        x = results.value(case, x_key)
        y = results.value(case, y_key) if y_key else ""
        xs[x] = ys[y] = None
        counts.setdefault((x, y), Counter()).update(results.verdicts(case))
    return PhaseDiagram(x_key, y_key, list(xs), list(ys), counts)


def problem_key(params):
    """What a run solves, without how: its params less the integrator and the label."""
    return json.dumps({k: v for k, v in params.items() if k not in ("integrator", "label")}, sort_keys=True)


def setting(params):
    """An integrator setting's name and tightness (smaller is tighter): ``("dopri5 rtol=1e-08", 1e-8)``."""
    integrator = params["integrator"]
    if "dt" in integrator and "rtol" not in integrator:
        return f"{integrator['name']} dt={integrator['dt']:g}", float(integrator["dt"])
    rtol = integrator.get("rtol", _DEFAULT_TOLERANCES["rtol"])
    return f"{integrator['name']} rtol={rtol:g}", float(rtol)


def problems(results):
    """``problem key -> [case, ...]`` for the problems run with more than one integrator setting."""
    groups = {}
    for case in results.cases:
        groups.setdefault(problem_key(case["params"]), []).append(case)
    return {key: cases for key, cases in groups.items() if len({setting(c["params"])[0] for c in cases}) > 1}


def reference(cases):
    """The run of a problem with the tightest tolerance (adaptive runs first), which the others are
    measured against."""
    ok = [c for c in cases if c["error"] is None]
    return min(ok, key=lambda c: ("rtol" not in c["params"]["integrator"] and "dt" in c["params"]["integrator"],
                                  setting(c["params"])[1]), default=None)


def trajectory_error(series, ref):
    """The largest relative difference in L and ||θ|| at the saved times both runs reached."""
    common, i, j = np.intersect1d(series["t"], ref["t"], return_indices=True)
    worst = np.nan
    for name in ("loss", "norm"):
        a, b = series[name][i], ref[name][j]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.any():
            rel = np.abs(a[ok] - b[ok]) / np.maximum(np.abs(b[ok]), np.finfo(float).tiny)
            worst = np.nanmax([worst, rel.max()])
    return worst if common.size else np.nan


@dataclass(frozen=True)
class WorkPoint:
    """One run of a problem: its setting, median error against the reference and median gradient
    evaluations over the seeds both ran."""

    problem: str
    setting: str
    tightness: float
    error: float
    n_grad: float
    is_reference: bool


def work_precision(results, problem_label):
    """Work–precision points of every problem run with several settings; ``problem_label(case)`` names it."""
    points = []
    for cases in problems(results).values():
        ref = reference(cases)
        if ref is None:
            continue
        ref_members = {m["seed"]: m for m in results.members[ref["case_id"]]}
        for case in cases:
            members = [m for m in results.members[case["case_id"]] if m["seed"] in ref_members]
            if not members:
                continue
            errors = np.array([trajectory_error(results.series(case["case_id"], m["seed"]),
                                                results.series(ref["case_id"], m["seed"])) for m in members])
            name, tightness = setting(case["params"])
            error = float(np.median(errors[np.isfinite(errors)])) if np.isfinite(errors).any() else np.nan
            points.append(WorkPoint(problem_label(case), name, tightness, error,
                                    float(np.median([m["n_grad"] for m in members])), case is ref))
    return points


def expected_verdict(case, ref_member):
    """What a member should conclude: the suite's ``expect``, else the reference run's decided verdict."""
    if case["expect"] is not None:
        return case["expect"]
    return ref_member["verdict"] if ref_member is not None and ref_member["verdict"] in DECIDED else None


def _member_ok(member, expected):
    wrong = member["verdict"] in DECIDED and expected is not None and member["verdict"] != expected
    return member["status"] in COMPLETED and member["verdict"] != "failed" and not wrong


def profile_costs(results):
    """Costs for the performance profiles: ``{"gradient evaluations": {setting: {problem: cost}},
    "wall time": {...}}``; a problem is a (problem, seed) pair for gradients and a whole case for wall time.
    A failed member, one that did not reach its horizon or one with a wrong verdict costs inf."""
    grads, wall = {}, {}
    for key, cases in problems(results).items():
        ref = reference(cases)
        ref_members = {m["seed"]: m for m in results.members[ref["case_id"]]} if ref else {}
        for case in cases:
            name = setting(case["params"])[0]
            members = {m["seed"]: m for m in results.members[case["case_id"]]}
            for seed in case["params"]["seeds"]:  # a failed case has no members: every seed costs inf
                m = members.get(seed)
                ok = m is not None and _member_ok(m, expected_verdict(case, ref_members.get(seed)))
                grads.setdefault(name, {})[(key, seed)] = m["n_grad"] if ok else np.inf
            all_ok = all(np.isfinite(grads[name][(key, seed)]) for seed in case["params"]["seeds"])
            wall.setdefault(name, {})[key] = case["wall_time"] if all_ok else np.inf
    return {"gradient evaluations": grads, "wall time": wall}


@dataclass(frozen=True)
class Profile:
    """ρ_s(τ): the fraction of problems that setting s solves within τ times the best cost."""

    solvers: list
    n_problems: int
    ratios: dict  # solver -> sorted performance ratios (inf where it failed)

    def rho(self, solver, tau):
        return float(np.mean(self.ratios[solver] <= tau)) if self.n_problems else float("nan")


def performance_profile(costs):
    """Dolan–Moré profile over the problems every solver in ``costs`` ({solver: {problem: cost}}) ran."""
    solvers = sorted(costs)
    common = set.intersection(*(set(costs[s]) for s in solvers)) if solvers else set()
    problems_ = sorted(common, key=str)
    table = np.array([[costs[s][p] for p in problems_] for s in solvers], dtype=float).reshape(len(solvers), -1)
    best = table.min(axis=0) if table.size else np.zeros(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = np.where(np.isfinite(best), table / np.where(best > 0, best, 1.0), np.inf)
    return Profile(solvers, len(problems_), {s: np.sort(ratios[i]) for i, s in enumerate(solvers)})


def time_to_divergence(series, factor):
    """The first saved time at which ||θ|| exceeds ``factor`` × its initial value; inf if it never does."""
    norm, t = series["norm"], series["t"]
    if not norm.size or not np.isfinite(norm[0]):
        return np.inf
    above = np.flatnonzero(norm > factor * norm[0])
    return float(t[above[0]]) if above.size else np.inf


def verdict_counts(labels):
    """``"diverging ×18, undecided ×2"`` in LABELS order."""
    counts = Counter(labels)
    return ", ".join(f"{label} ×{counts[label]}" for label in LABELS if counts[label])
