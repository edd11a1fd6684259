"""``until="decided"``: integrate decade after decade until the verdict is settled, and say why a run stopped.

The chunk loop (:mod:`sadbench.solvers.chunked`) calls :meth:`UntilDecided.stop` for each running member
after every chunk of save points. It stops a member when the combined verdict of all its detectors, with the
case's premises, is decided — not when a single detector is, since another may contradict it — or when the
flow has reached rounding level: once ||∇L|| is within ``NOISE_MARGIN`` of its own float64 rounding noise,
further integration follows the noise, not the flow (the weights of a divergent SAD flow grow and cancel, so
that noise grows; docs/science.md §5).
"""

import math
from dataclasses import replace

import numpy as np

from sadbench.errors import SadbenchError
from sadbench.verdicts.forecast import forecast
from sadbench.verdicts.limit import estimate_limit
from sadbench.verdicts.series import Series
from sadbench.verdicts.verdict import combine

DECIDED_CAP = 1e16  # the default horizon of until="decided": stiff steps grow with t, so it is cheap to reach
NOISE_MARGIN = 10.0
NOISE_CHECK_BELOW = 1e-6
_NOISE_ULPS = 8.0
UNTIL = ("decided",)

STOP_REASONS = {
    "decided": "the verdict was decided",
    "rounding": "||∇L|| reached its rounding noise: further integration would follow the noise",
    "horizon": "the horizon t_end was reached",
    "wall_time": "the wall-clock budget max_wall ran out",
    "max_steps": "the step budget max_steps ran out",
    "detector": "a detector ended the run",
}


def gradient_noise(probe, theta):
    """The RMS rounding noise σ per component of the float64 gradient at θ, from ∇L(θ + δ) + ∇L(θ − δ) −
    2·∇L(θ) for a perturbation δ of a few ulps (the linear parts cancel, three rounding errors remain)."""
    theta = np.asarray(theta, dtype=np.float64)
    signs = np.where(np.arange(theta.size) % 2 == 0, 1.0, -1.0)
    delta = _NOISE_ULPS * np.finfo(float).eps * np.maximum(np.abs(theta), 1.0) * signs
    _, grads = probe.loss_and_grad(np.stack([theta, theta + delta, theta - delta]))
    return float(np.sqrt(np.mean((grads[1] + grads[2] - 2.0 * grads[0]) ** 2) / 6.0))


def at_rounding_level(trace):
    """Whether the member's gradient is within NOISE_MARGIN of its rounding noise (σ·√P) at its last state.
    Only asked once ||∇L|| has fallen ``NOISE_CHECK_BELOW`` below its largest saved value: above that the
    noise, a small multiple of eps·||∇L|| at first, cannot have caught up."""
    if trace.probe is None or not np.all(np.isfinite(trace.theta)):
        return False
    grad = float(np.linalg.norm(trace.grad))
    largest = np.nanmax(np.asarray(trace.grad_norm, dtype=float), initial=0.0)
    if not grad < NOISE_CHECK_BELOW * largest:
        return False
    return grad <= NOISE_MARGIN * gradient_noise(trace.probe, trace.theta) * math.sqrt(trace.theta.size)


def findings_of(trace, detectors, member=None):
    """The findings of ``detectors`` (name, object) pairs on one member's trace; a detector that raises is
    named, with the member and its status."""
    findings = []
    for name, detector in detectors:
        try:
            finding = detector.assess(trace)
        except Exception as exc:
            where = "" if member is None else f" on member {member}"
            raise SadbenchError(f"detector {name!r} raised {type(exc).__name__}{where} (status {trace.status}): "
                                f"{exc}") from exc
        if finding is not None:
            findings.append(finding)
    return findings


def judge(trace, detectors, with_forecast=True, member=None):
    """The :class:`~sadbench.verdicts.verdict.Verdict` of one member's trace from ``detectors`` (name,
    object) pairs and its case's premises, with a forecast when it is undecided, and its findings."""
    findings = findings_of(trace, detectors, member)
    premises = None if trace.probe is None else trace.probe.premises
    verdict = combine(findings, float(trace.t_final), premises, trace.floor)
    if with_forecast and verdict.label == "undecided":
        s = Series.of(trace)
        if len(s) >= 3:
            estimate = estimate_limit(s.t, s.loss, s.grad, trace.floor)
            best = min(max(estimate.value, 0.0), s.loss[-1]) if estimate.finite else math.nan
            verdict = replace(verdict, forecast=forecast(s, estimate, trace.floor), limit_loss=trace.floor + best)
    return verdict, findings


class UntilDecided:
    """The stop hook of ``until="decided"`` over a run's detectors (module docstring)."""

    def __init__(self, detectors):
        self.detectors = detectors

    def stop(self, trace):
        verdict, _ = judge(trace, self.detectors, with_forecast=False)
        return verdict.decided or verdict.label == "failed" or at_rounding_level(trace)


def stop_reason(status, verdict, rounding):
    """Why a member's integration ended: a key of STOP_REASONS, or "failed: <status>"."""
    if status == "detector":
        return "decided" if verdict.decided else "rounding" if rounding else "detector"
    if status == "success":
        return "horizon"
    if status in ("wall_time", "max_steps"):
        return status
    return f"failed: {status}"


def with_stop(verdict, reason):
    """``verdict`` with ``stopped`` set to the words of ``reason``."""
    return replace(verdict, stopped=STOP_REASONS.get(reason, reason))
