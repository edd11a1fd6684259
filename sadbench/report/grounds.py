"""The report's "Verdicts and their grounds": for every member, what was concluded, by which detector, when,
with which L*, and on what evidence and premises.

A stored verdict (``members.verdict_json``) carries ``detector``, ``time``, ``limit_loss``, ``evidence`` and
``reason``, and may carry more (the premises a verdict rests on, the grounds, a forecast): every further
field is shown too, under its own name, so a detector that adds one needs no change here.
"""

from sadbench.report.labels import case_text, value_text
from sadbench.report.sections import Section, Table, number

_KNOWN = ("detector", "time", "limit_loss", "evidence", "reason")
_MAX_EVIDENCE = 8  # numbers of evidence shown per member; the exports have them all


def field_text(value):
    """A verdict field in words: numbers to 4 digits, mappings as ``key = value; ...``, lists joined."""
    if isinstance(value, float):
        return format(value, ".4g")
    if isinstance(value, dict):
        return "; ".join(f"{key} = {field_text(v)}" for key, v in value.items())
    if isinstance(value, (list, tuple)):
        return ", ".join(field_text(v) for v in value) if all(not isinstance(v, list) for v in value) \
            else value_text("", list(value))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def evidence_text(evidence):
    """The decider's own numbers first (keys without a dot), then the other detectors', up to a limit."""
    items = sorted((evidence or {}).items(), key=lambda kv: "." in kv[0])
    shown = "; ".join(f"{key} = {field_text(value)}" for key, value in items[:_MAX_EVIDENCE])
    more = len(items) - _MAX_EVIDENCE
    return shown + (f"; … {more} more" if more > 0 else "")


def grounds_section(results):
    """One collapsed table of every member's verdict and grounds, and the fields beyond the standard ones."""
    extra = []
    for members in results.members.values():
        for m in members:
            extra += [key for key in (m["verdict_json"] or {}) if key not in _KNOWN and key not in extra]
    rows = []
    for case in results.cases:
        for m in results.members[case["case_id"]]:
            verdict = m["verdict_json"] or {}
            rows.append([case_text(case["label"]), m["seed"], m["verdict"], verdict.get("detector") or "",
                         number(verdict.get("time"), ".4g"), number(verdict.get("limit_loss"), ".4g"),
                         verdict.get("reason") or "", *(field_text(verdict.get(key)) for key in extra),
                         evidence_text(verdict.get("evidence"))])
    text = ("What each member's verdict rests on: the detector that decided and when, the limit loss L* it "
            "estimated, its reason, and the evidence (the deciding detector's numbers first, then the others' as "
            "detector.key). A verdict comes from the flow's evidence and its case's premises, never from its name.")
    headers = ["case", "seed", "verdict", "decided by", "at t", "L*", "reason", *extra, "evidence"]
    return Section("Verdicts and their grounds", text,
                   [Table("grounds", "every member's verdict and grounds", headers, rows, collapsed=len(rows) > 12)])
