"""A results file as tidy pandas DataFrames: one row per case, per member (case × seed), per saved time.

Every case parameter is its own column under its dotted path (``network.activation``, ``target.n``,
``integrator.rtol``): scalars as they are (integers as nullable ``Int64``, as a parameter that some cases
leave out is missing there), lists and mappings (``network.widths``, ``detectors``) as compact JSON text, so
that a column has one type and filters with ``==``. In the series table a parameter named like an
observable (``loss``, the loss function) is ``params.loss``. The columns are listed in
:data:`CASE_COLUMNS`, :data:`MEMBER_COLUMNS` and :data:`SERIES_COLUMNS` (params go after ``label``).
"""

import json
from collections import Counter

import numpy as np
import pandas as pd

from sadbench.suites.store import SERIES_COLUMNS as STORED_SERIES
from sadbench.verdicts.verdict import LABELS

DECIDED = ("converged", "diverging", "directional")
#: Params that are not parameters of the flow: the label is a column already, ``expect`` is its own
#: column and the seeds are the members.
_NOT_PARAMS = ("label", "expect", "seeds")
_VERDICT_KEYS = ("detector", "time", "limit_loss", "evidence", "reason")

#: The columns of :meth:`Results.cases`, params (``network.activation`` ...) inserted after ``label``.
CASE_COLUMNS = (
    "case_id", "suite", "label", "expect", "n_seeds", "status", "error", "verdict",
    *(f"n_{label}" for label in LABELS), "n_wrong", "limit_loss", "loss_final", "norm_final", "t_final",
    "n_grad", "wall_time", "wall_time_min", "wall_time_median", "compile_time", "repeat", "sadbench_version",
    "dtype", "run_id", "commit", "worker", "finished_at",
)
#: The columns of :meth:`Results.members`, params inserted after ``label``; then one ``verdict.KEY`` column
#: for every further field a stored verdict carries (premises, grounds, ...).
MEMBER_COLUMNS = (
    "case_id", "suite", "label", "seed", "expect", "status", "verdict", "correct", "detector", "verdict_time",
    "limit_loss", "reason", "t_final", "loss_final", "norm_final", "grad_norm_final", "n_grad", "n_steps",
    "n_rejected", "evidence", "integrator_stats", "wall_time", "error", "run_id",
)
#: The columns of :meth:`Results.series` (``R`` = ||θ||·||∇L||), params inserted after ``seed``.
SERIES_COLUMNS = ("case_id", "label", "seed", "t", *STORED_SERIES[1:], "R")


def flatten(params, prefix=""):
    """Every leaf of a case's params keyed by its dotted path; lists and detector specs are leaves."""
    out = {}
    for key, value in params.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def cell(value):
    """A parameter as a DataFrame cell: scalars as they are, anything else as compact JSON text."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def param_columns(case):
    return {key: cell(value) for key, value in flatten(case["params"]).items() if key.split(".")[0] not in _NOT_PARAMS}


def _order(frame, fixed, after):
    """``fixed`` columns in order, the params (every other column, in first-seen order) after ``after``."""
    params = [c for c in frame.columns if c not in fixed]
    at = fixed.index(after) + 1
    return frame[list(fixed[:at]) + params + list(fixed[at:])]


def _median(values):
    values = [v for v in values if v is not None and v == v]
    return float(np.median(values)) if values else np.nan


def _wrong(verdict, expect):
    return verdict in DECIDED and expect is not None and verdict != expect


def _case_row(case, members, commits):
    verdicts = ["failed"] * case["n_seeds"] if case["error"] is not None else [m["verdict"] for m in members]
    counts = Counter(verdicts)
    limits = [(m["verdict_json"] or {}).get("limit_loss") for m in members]
    return {
        "case_id": case["case_id"], "suite": case["suite"], "label": case["label"], **param_columns(case),
        "expect": case["expect"], "n_seeds": case["n_seeds"],
        "status": "failed" if case["error"] is not None else "finished", "error": case["error"],
        "verdict": counts.most_common(1)[0][0] if counts else None,
        **{f"n_{label}": counts[label] for label in LABELS},
        "n_wrong": sum(_wrong(v, case["expect"]) for v in verdicts) if case["expect"] is not None else pd.NA,
        "limit_loss": _median(limits), **{key: _median([m[key] for m in members])
                                          for key in ("loss_final", "norm_final", "t_final", "n_grad")},
        "wall_time": case["wall_time"], "wall_time_min": case["wall_time_min"],
        "wall_time_median": case["wall_time_median"], "compile_time": case["compile_time"],
        "repeat": case["repeat"], "sadbench_version": (case["provenance"] or {}).get("sadbench"),
        "dtype": (case["provenance"] or {}).get("dtype"), "run_id": case["run_id"],
        "commit": commits.get(case["run_id"]), "worker": case["worker"], "finished_at": case["finished_at"],
    }


def _member_row(case, member):
    verdict = dict(member.get("verdict_json") or {})
    label = member.get("verdict", "failed" if case["error"] is not None else None)
    row = {
        "case_id": case["case_id"], "suite": case["suite"], "label": case["label"], "seed": member.get("seed"),
        **param_columns(case), "expect": case["expect"],
        "status": member.get("status", "error"), "verdict": label,
        "correct": (label == case["expect"]) if case["expect"] is not None else pd.NA,
        "detector": verdict.get("detector"), "verdict_time": verdict.get("time"),
        "limit_loss": verdict.get("limit_loss"), "reason": verdict.get("reason"),
        **{key: member.get(key) for key in ("t_final", "loss_final", "norm_final", "grad_norm_final", "n_grad",
                                            "n_steps", "n_rejected")},
        "evidence": cell(verdict["evidence"]) if verdict.get("evidence") is not None else None,
        "integrator_stats": cell(member["integrator_stats"]) if member.get("integrator_stats") else None,
        "wall_time": case["wall_time"], "error": case["error"], "run_id": case["run_id"],
    }
    row.update({f"verdict.{key}": cell(value) for key, value in verdict.items() if key not in _VERDICT_KEYS})
    return row


_INTEGER = ("seed", "n_grad", "n_steps", "n_rejected", "n_seeds", "repeat", "n_wrong")
_FLOAT = ("verdict_time", "limit_loss", "t_final", "loss_final", "norm_final", "grad_norm_final", "wall_time",
          "wall_time_min", "wall_time_median", "compile_time")


def _integers(values):
    present = [v for v in values if not pd.isna(v)]
    return bool(present) and all(isinstance(v, int) and not isinstance(v, bool) for v in present)


def _typed(frame, params=()):
    """``frame`` built with object columns, typed: nullable integers where a failed case or a case without
    the parameter leaves a gap, floats with NaN for a missing number, the rest as pandas infers it."""
    for column in frame.columns:
        if column in _INTEGER or (column in params and _integers(frame[column].tolist())):
            frame[column] = pd.array([None if pd.isna(v) else int(v) for v in frame[column]],
                                     dtype="Int64")
        elif column in _FLOAT:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        elif column == "correct":
            frame[column] = frame[column].astype("boolean")
        else:
            frame[column] = frame[column].infer_objects()
    return frame


def cases_frame(cases, members, commits):
    """One row per case (:data:`CASE_COLUMNS`); ``members`` maps a case id to its member rows,
    ``commits`` a run id to its git commit."""
    rows = [_case_row(case, members.get(case["case_id"], []), commits) for case in cases]
    frame = pd.DataFrame(rows, columns=None if rows else list(CASE_COLUMNS), dtype=object)
    frame = _typed(frame, [c for c in frame.columns if c not in CASE_COLUMNS])
    return _order(frame, CASE_COLUMNS, "label")


def members_frame(cases, members):
    """One row per case and seed (:data:`MEMBER_COLUMNS`); a failed case has one row without a seed."""
    rows = [_member_row(case, member) for case in cases for member in members.get(case["case_id"]) or [{}]]
    frame = pd.DataFrame(rows, columns=None if rows else list(MEMBER_COLUMNS), dtype=object)
    frame = _typed(frame, [c for c in frame.columns if c not in MEMBER_COLUMNS and not c.startswith("verdict.")])
    extra = [c for c in frame.columns if c.startswith("verdict.")]
    ordered = _order(frame[[c for c in frame.columns if c not in extra]], MEMBER_COLUMNS, "label")
    return pd.concat([ordered, frame[extra]], axis=1)


def series_frame(rows, cases, params=True):
    """One row per saved time (:data:`SERIES_COLUMNS`) from ``rows`` (a DataFrame of the store's series
    table: case_id, seed, t and the observables); ``params`` adds the case parameter columns."""
    frame = rows.copy()
    frame["R"] = frame["norm"] * frame["grad_norm"]
    by_id = {case["case_id"]: case for case in cases}
    frame.insert(1, "label", frame["case_id"].map(lambda i: by_id[i]["label"]))
    frame["seed"] = frame["seed"].astype("Int64")
    if params and len(frame):
        table = pd.DataFrame([{"case_id": i, **param_columns(by_id[i])} for i in frame["case_id"].unique()],
                             dtype=object)
        table = _typed(table, list(table.columns[1:]))
        table.columns = ["case_id"] + [f"params.{c}" if c in SERIES_COLUMNS else c for c in table.columns[1:]]
        frame = frame.merge(table, on="case_id", how="left", sort=False)
    fixed = list(SERIES_COLUMNS)
    others = [c for c in frame.columns if c not in fixed]
    return frame[fixed[:3] + others + fixed[3:]]
