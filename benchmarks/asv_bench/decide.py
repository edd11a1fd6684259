"""asv benchmarks: how many flows of the labelled suites are decided, and how many wrongly, with
``horizon: decided`` (issue 19). Lower is better for all of them: the undecided count and fraction, the wrong
count. suites/ground_truth.yaml is the set the detectors were designed on; suites/held_out.yaml and
suites/held_out_2.yaml hold instances they were not tuned on; suites/quickstart.yaml is the quick start.

A suite this commit's reader cannot expand, or that it lacks, shows as skipped (NotImplementedError).
"""

from pathlib import Path

SUITES = Path(__file__).resolve().parents[2] / "suites"


def verdict_counts(name):
    """(undecided, wrong, total) members of suites/<name>.yaml, every case run as the suite says."""
    try:
        from sadbench.suites.runner import integrate_case
        from sadbench.suites.suite import load_suite

        suite = load_suite(SUITES / f"{name}.yaml")
    except Exception as exc:  # an older commit may lack the file or the keys it uses
        raise NotImplementedError(f"{name}.yaml cannot be run at this commit: {exc}") from exc
    undecided = wrong = total = 0
    for case in suite.cases:
        for verdict in integrate_case(case, suite.registry, suite.path.parent).verdict:
            total += 1
            undecided += verdict.label == "undecided"
            wrong += verdict.label not in (case.params["expect"], "undecided")
    return undecided, wrong, total


def counts_or_reason(name):
    """verdict_counts(name), or why it cannot run (passed on to ``setup``, which skips)."""
    try:
        return verdict_counts(name)
    except NotImplementedError as exc:
        return str(exc)


class _Decided:
    """The verdict counts of one suite, computed once per benchmark run by each subclass's ``setup_cache``
    (asv keys a cache by the function's place in the source, so each suite has its own)."""

    processes = 1
    repeat = 1
    number = 1
    timeout = 1800

    def setup(self, counts):
        if isinstance(counts, str):
            raise NotImplementedError(counts)

    def track_undecided(self, counts):
        return counts[0]

    track_undecided.unit = "runs"

    def track_undecided_fraction(self, counts):
        return counts[0] / counts[2]

    track_undecided_fraction.unit = "fraction"

    def track_wrong(self, counts):
        return counts[1]

    track_wrong.unit = "runs"


class GroundTruth(_Decided):
    def setup_cache(self):
        return counts_or_reason("ground_truth")


class HeldOut(_Decided):
    def setup_cache(self):
        return counts_or_reason("held_out")


class HeldOut2(_Decided):
    def setup_cache(self):
        return counts_or_reason("held_out_2")


class Quickstart(_Decided):
    def setup_cache(self):
        return counts_or_reason("quickstart")
