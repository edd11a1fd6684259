"""Turning detector findings into one verdict per trajectory."""

from dataclasses import dataclass, field

LABELS = ("converged", "diverging", "directional", "undecided", "failed")
_PRIORITY = ("failed", "converged", "diverging", "directional")


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


def combine(findings, t_final):
    """The decided finding of highest priority (failure first), else "undecided" with the reasons given."""
    for label in _PRIORITY:
        for finding in findings:
            if finding.label == label:
                return Verdict(label, finding.detector, finding.time, finding.limit_loss,
                               dict(finding.evidence), finding.reason)
    reasons = [f"{f.detector}: {f.reason}" for f in findings if f.label == "undecided" and f.reason]
    evidence = {k: v for f in findings for k, v in f.evidence.items()}
    reason = "; ".join(reasons) or f"no detector decided by t = {t_final:.6g}"
    return Verdict("undecided", None, t_final, evidence=evidence, reason=reason)
