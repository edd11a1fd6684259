"""Turning detector findings into one verdict per trajectory.

A numerical failure overrides everything (nothing after it can be trusted). "directional" refines
"diverging" (θ/||θ|| converges while ||θ|| → ∞), so the two agree; "converged" contradicts both, and
detectors that contradict each other give "undecided" rather than a guess. The case's premises
(:mod:`sadbench.verdicts.premises`) overrule a finding that contradicts a theorem: a deep linear network's
bounded trajectory cannot diverge, and under Thm 3.4's premises no finite limit has L = floor.
"""

from dataclasses import dataclass, field

LABELS = ("converged", "diverging", "directional", "undecided", "failed")
DECIDED = ("converged", "diverging", "directional")
_DIVERGENT = ("directional", "diverging")  # most specific first


@dataclass(frozen=True)
class Verdict:
    """The answer for one trajectory: ``label`` (one of LABELS), the ``detector`` that decided and the
    ``time`` it decided at, the estimated limit loss L* (the data floor included), the ``evidence`` numbers,
    and for "undecided" the ``reason``.

    ``grounds`` lists what decided it: each agreeing finding's statement and the premises it rests on, as
    plain JSON-able dicts. ``premises`` is the case's :meth:`CasePremises.to_dict`, ``forecast`` (for
    "undecided") the fitted laws, the horizon at which the evidence would suffice if the trends hold and the
    competing hypotheses; ``stopped`` says why the integration ended.
    """

    label: str
    detector: str | None
    time: float
    limit_loss: float = float("nan")
    evidence: dict = field(default_factory=dict)
    reason: str = ""
    grounds: list = field(default_factory=list)
    premises: dict = field(default_factory=dict)
    forecast: dict | None = None
    stopped: str = ""

    @property
    def decided(self):
        return self.label in DECIDED

    def to_dict(self):
        """Everything but the label, as plain data (the results store keeps it as JSON)."""
        return {"detector": self.detector, "time": self.time, "limit_loss": self.limit_loss,
                "evidence": self.evidence, "reason": self.reason, "grounds": self.grounds,
                "premises": self.premises, "forecast": self.forecast, "stopped": self.stopped}


def _evidence(decider, findings):
    """The decider's evidence as it is, every other finding's under ``detector.key``."""
    evidence = dict(decider.evidence) if decider is not None else {}
    for f in findings:
        if f is not decider:
            evidence.update({f"{f.detector}.{k}": v for k, v in f.evidence.items()})
    return evidence


def _ground(finding):
    return {"detector": finding.detector, "label": finding.label, "time": finding.time,
            "statement": finding.reason}


def _overruled(finding, premises):
    """Why a premise rules ``finding`` out, or ""."""
    if premises is None:
        return ""
    if finding.label in _DIVERGENT and premises.holds("bounded"):
        return f"{finding.detector} says {finding.label}, but {premises.premises['bounded'].theorem}"
    at_floor = finding.limit_loss <= 0.0 or finding.evidence.get("kind") == "zero-loss minimum"
    if finding.label == "converged" and premises.positive_excess and at_floor:
        return (f"{finding.detector} says converged with L* = floor, but L > floor at every θ under the case's "
                "premises, so such a limit does not exist")
    return ""


def _premise_grounds(premises, label):
    """The premises a decided label rests on, as grounds."""
    if premises is None:
        return []
    names = {"diverging": ("sad", "unattained"), "directional": ("ji_telgarsky",),
             "converged": ("bounded", "chatterjee")}[label]
    return [{"premise": name, "theorem": premises.premises[name].theorem, "holds": "yes"}
            for name in names if premises.holds(name)]


def combine(findings, t_final, premises=None, floor=0.0):
    """One verdict from a member's findings: failure first; then the decided labels, if they agree and no
    premise overrules them; else "undecided" with every detector's reason. ``premises`` is the case's
    :class:`~sadbench.verdicts.premises.CasePremises` (or None) and ``floor`` the data floor, which the
    findings' limit losses are measured above."""
    by_label = {}
    for f in findings:
        by_label.setdefault(f.label, f)
    described = {} if premises is None else {"premises": premises.to_dict()}
    if "failed" in by_label:
        return _decided(by_label["failed"], findings, floor, [], described)
    overruled = [(f, why) for f in findings if f.label in DECIDED and (why := _overruled(f, premises))]
    standing = {label: f for label, f in by_label.items()
                if label not in DECIDED or all(f is not g for g, _ in overruled)}
    divergent = next((standing[label] for label in _DIVERGENT if label in standing), None)
    converged = standing.get("converged")
    if converged is not None and divergent is not None:
        reason = (f"detectors disagree: {converged.detector} says converged ({converged.reason}), "
                  f"{divergent.detector} says {divergent.label} ({divergent.reason})")
        return Verdict("undecided", None, t_final, evidence=_evidence(None, findings), reason=reason, **described)
    decider = converged or divergent
    if decider is not None:
        agreeing = [f for f in findings if f.label == decider.label or
                    (decider.label == "directional" and f.label == "diverging")]
        grounds = [_ground(f) for f in agreeing] + _premise_grounds(premises, decider.label)
        return _decided(decider, findings, floor, grounds, described)
    reasons = [f"{f.detector}: {f.reason}" for f in findings if f.label == "undecided" and f.reason]
    reasons += [why for _, why in overruled]
    reason = "; ".join(reasons) or f"no detector decided by t = {t_final:.6g}"
    return Verdict("undecided", None, t_final, evidence=_evidence(None, findings), reason=reason, **described)


def _decided(finding, findings, floor, grounds, described):
    return Verdict(finding.label, finding.detector, finding.time, finding.limit_loss + floor,
                   _evidence(finding, findings), finding.reason, grounds=grounds, **described)
