"""How often the verdicts match a suite's ``expect:`` labels: the confusion table of ``sadbench run``.

A verdict is *decided* when it is converged, diverging or directional, and *wrong* when it is decided and
differs from the expectation. "undecided" is never wrong, only unhelpful: the detectors are built to prefer
it, so the table reports accuracy, the decided fraction and the wrong count apart.
"""

from dataclasses import dataclass

from sadbench.report.table import render
from sadbench.verdicts.verdict import DECIDED, LABELS


@dataclass(frozen=True)
class Confusion:
    """Counts ``counts[expected][verdict]`` over the trajectories, with rows and columns in LABELS order."""

    counts: dict
    total: int
    correct: int
    decided: int
    wrong: int

    @property
    def accuracy(self):
        return self.correct / self.total if self.total else float("nan")

    @property
    def decided_fraction(self):
        return self.decided / self.total if self.total else float("nan")

    def text(self):
        """The table, then one summary line."""
        rows = [[expected] + [self.counts[expected][v] for v in LABELS] for expected in self.counts]
        return render(["expected \\ verdict", *LABELS], rows) + "\n" + self.summary()

    def summary(self):
        """``decided N/M, wrong K`` against the expected labels, then the accuracy."""
        return (f"decided {self.decided}/{self.total}, wrong {self.wrong} "
                f"(decided {100 * self.decided_fraction:.1f}%, accuracy {self.correct}/{self.total} = "
                f"{100 * self.accuracy:.1f}%)")


def confusion(expected_labels, verdict_labels):
    """The :class:`Confusion` of two equal-length sequences of labels (one pair per trajectory)."""
    expected_labels, verdict_labels = list(expected_labels), list(verdict_labels)
    if len(expected_labels) != len(verdict_labels):
        raise ValueError(f"{len(expected_labels)} expected labels but {len(verdict_labels)} verdicts")
    for label in expected_labels + verdict_labels:
        if label not in LABELS:
            raise ValueError(f"unknown label {label!r}; valid: {', '.join(LABELS)}")
    counts = {e: {v: 0 for v in LABELS} for e in LABELS if e in expected_labels}
    for e, v in zip(expected_labels, verdict_labels):
        counts[e][v] += 1
    pairs = list(zip(expected_labels, verdict_labels))
    return Confusion(
        counts=counts, total=len(pairs), correct=sum(e == v for e, v in pairs),
        decided=sum(v in DECIDED for _, v in pairs), wrong=sum(v in DECIDED and v != e for e, v in pairs),
    )


def labels_from_store(store, case_ids=None):
    """(expected, verdict) label lists over the stored members of cases that have ``expect`` and ran without
    error, from a :class:`~sadbench.suites.store.Store`."""
    expected, got = [], []
    for case in store.cases(case_ids):
        if case["expect"] is None or case["error"] is not None:
            continue
        for member in store.members(case["case_id"]):
            expected.append(case["expect"])
            got.append(member["verdict"])
    return expected, got
