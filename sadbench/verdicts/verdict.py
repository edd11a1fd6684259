"""Turning detector findings into one verdict per trajectory.

A numerical failure overrides everything (nothing after it can be trusted). "directional" refines
"diverging" (θ/||θ|| converges while ||θ|| → ∞), so the two agree; "converged" contradicts both, and
detectors that contradict each other give "undecided" rather than a guess.
"""

from dataclasses import dataclass, field

LABELS = ("converged", "diverging", "directional", "undecided", "failed")
_DIVERGENT = ("directional", "diverging")  # most specific first


@dataclass(frozen=True)
class Verdict:
    """The answer for one trajectory: ``label`` (one of LABELS), the ``detector`` that decided and the
    ``time`` it decided at, the estimated limit loss L*, the ``evidence`` numbers, and for "undecided" the
    ``reason``."""

    label: str
    detector: str | None
    time: float
    limit_loss: float = float("nan")
    evidence: dict = field(default_factory=dict)
    reason: str = ""


def _evidence(decider, findings):
    """The decider's evidence as it is, every other finding's under ``detector.key``."""
    evidence = dict(decider.evidence) if decider is not None else {}
    for f in findings:
        if f is not decider:
            evidence.update({f"{f.detector}.{k}": v for k, v in f.evidence.items()})
    return evidence


def _decided(finding, findings):
    return Verdict(finding.label, finding.detector, finding.time, finding.limit_loss,
                   _evidence(finding, findings), finding.reason)


def combine(findings, t_final):
    """One verdict from a member's findings: failure first; then the decided labels, if they agree; else
    "undecided" with every detector's reason."""
    by_label = {}
    for f in findings:
        by_label.setdefault(f.label, f)
    if "failed" in by_label:
        return _decided(by_label["failed"], findings)
    divergent = next((by_label[label] for label in _DIVERGENT if label in by_label), None)
    converged = by_label.get("converged")
    if converged is not None and divergent is not None:
        reason = (f"detectors disagree: {converged.detector} says converged ({converged.reason}), "
                  f"{divergent.detector} says {divergent.label} ({divergent.reason})")
        return Verdict("undecided", None, t_final, evidence=_evidence(None, findings), reason=reason)
    if converged is not None or divergent is not None:
        return _decided(converged or divergent, findings)
    reasons = [f"{f.detector}: {f.reason}" for f in findings if f.label == "undecided" and f.reason]
    reason = "; ".join(reasons) or f"no detector decided by t = {t_final:.6g}"
    return Verdict("undecided", None, t_final, evidence=_evidence(None, findings), reason=reason)
