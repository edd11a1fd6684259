"""Plain-text tables for the command line: the results of a run, the cases of a suite."""

import json

from sadbench.verdicts.verdict import DECIDED

RESULT_COLUMNS = ("case", "activation", "widths", "target", "loss", "integrator", "seed", "t", "L", "||θ||",
                  "grad evals", "wall s", "status", "verdict", "decided at t")


def render(headers, rows):
    """Left-aligned text columns with a rule under the header."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def compact(value):
    """A list on one short line: [1,8,1]."""
    return json.dumps(value, separators=(",", ":"))


def _number(value, spec):
    return "nan" if value is None else format(value, spec)


def result_rows(store, case_ids):
    """One row per case and seed, in suite order; a failed case shows one 'error' row per seed."""
    members = {}
    for row in store.members():
        members.setdefault(row["case_id"], []).append(row)
    rows = []
    for case in store.cases(case_ids):
        head = [case["label"], case["activation"], compact(case["widths"]), case["target"], case["loss"],
                case["integrator"]]
        wall = _number(case["wall_time"], ".2f")
        if case["error"] is not None:
            rows += [head + [seed, "", "", "", "", wall, "error", "", ""] for seed in case["params"]["seeds"]]
            continue
        for m in members.get(case["case_id"], []):
            rows.append(head + [m["seed"], _number(m["t_final"], ".4g"), _number(m["loss_final"], ".3e"),
                                _number(m["norm_final"], ".4g"), m["n_grad"], wall, m["status"], m["verdict"],
                                _decided_at(m)])
    return rows


def _decided_at(member):
    """The time the verdict was reached, for a decided one (from the stored verdict)."""
    if member["verdict"] not in DECIDED:
        return ""
    return _number((member["verdict_json"] or {}).get("time"), ".3g")


def results_table(store, case_ids):
    return render(RESULT_COLUMNS, result_rows(store, case_ids))


def _seeds(seeds):
    """``20 (0-19)`` for a range, else the list."""
    if seeds == list(range(seeds[0], seeds[0] + len(seeds))) and len(seeds) > 2:
        return f"{len(seeds)} ({seeds[0]}-{seeds[-1]})"
    return compact(seeds)


def cases_table(tasks):
    """The expanded cases of a suite (``runner.plan``'s tasks), one row each, with their store ids."""
    rows = []
    for task in tasks:
        p = task.case.params
        rows.append([task.case_id, task.label, p["network"]["activation"], compact(p["network"]["widths"]),
                     p["target"]["name"], p["loss"], p["integrator"]["name"], format(p["horizon"], "g"),
                     _seeds(p["seeds"]), p["expect"] or ""])
    return render(("case_id", "label", "activation", "widths", "target", "loss", "integrator", "horizon", "seeds",
                   "expect"), rows)
