"""Combining detector findings into one verdict, and the confusion table against expected labels."""

import pytest

from sadbench import Finding
from sadbench.report.confusion import confusion
from sadbench.verdicts.verdict import LABELS, combine


def finding(detector, label, time=1.0, **evidence):
    return Finding(detector, label, time, evidence, limit_loss=0.0, reason=f"{detector} reason")


def test_failure_overrides_every_other_finding():
    v = combine([finding("divergence", "diverging"), finding("nonfinite", "failed", 5.0, status="nonfinite")], 9.0)
    assert (v.label, v.detector, v.time) == ("failed", "nonfinite", 5.0)


def test_directional_refines_diverging():
    v = combine([finding("divergence", "diverging", 3.0, R=1), finding("directional", "directional", 2.0, a=1)], 9.0)
    assert (v.label, v.detector, v.time) == ("directional", "directional", 2.0)
    assert v.evidence == {"a": 1, "divergence.R": 1}


def test_contradicting_detectors_give_undecided():
    v = combine([finding("critical_point", "converged"), finding("divergence", "diverging")], 9.0)
    assert v.label == "undecided" and v.detector is None and v.time == 9.0
    assert v.reason.startswith("detectors disagree: critical_point says converged")


def test_undecided_collects_every_reason_and_namespaced_evidence():
    findings = [Finding("critical_point", "undecided", 9.0, {"p": 0.5}, reason="too slow"),
                Finding("divergence", "undecided", 9.0, {"R_slope": -0.1}, reason="horizon too short"),
                Finding("r_product", "info", 9.0, {"R": 2.0})]
    v = combine(findings, 9.0)
    assert v.label == "undecided"
    assert v.reason == "critical_point: too slow; divergence: horizon too short"
    assert v.evidence == {"critical_point.p": 0.5, "divergence.R_slope": -0.1, "r_product.R": 2.0}
    assert combine([], 4.0).reason == "no detector decided by t = 4"


def test_info_findings_never_decide():
    v = combine([finding("chatterjee", "info"), finding("critical_point", "converged", 2.0, kind="min")], 9.0)
    assert (v.label, v.detector) == ("converged", "critical_point")
    assert v.evidence["kind"] == "min" and "chatterjee.kind" not in v.evidence


def test_confusion_counts_accuracy_decided_and_wrong():
    expected = ["converged", "converged", "diverging", "diverging", "directional"]
    got = ["converged", "undecided", "diverging", "converged", "diverging"]
    c = confusion(expected, got)
    assert (c.total, c.correct, c.decided, c.wrong) == (5, 2, 4, 2)
    assert c.accuracy == pytest.approx(0.4) and c.decided_fraction == pytest.approx(0.8)
    assert c.counts["diverging"]["converged"] == 1 and list(c.counts) == ["converged", "diverging", "directional"]
    lines = c.text().splitlines()
    assert lines[0].split() == ["expected", "\\", "verdict", *LABELS]
    assert lines[2].split() == ["converged", "1", "0", "0", "1", "0"]
    assert lines[-1] == "decided 4/5, wrong 2 (decided 80.0%, accuracy 2/5 = 40.0%)"


def test_confusion_rejects_unknown_labels_and_unequal_lengths():
    with pytest.raises(ValueError, match="unknown label 'maybe'"):
        confusion(["converged"], ["maybe"])
    with pytest.raises(ValueError, match="1 expected labels but 2 verdicts"):
        confusion(["converged"], ["converged", "failed"])
