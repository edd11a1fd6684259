"""Timing a case: numba's compile time is measured apart from the run, ``--repeat N`` times N runs after a
warm-up, and the store keeps every sample with their min and median."""

import statistics
import threading
import time
from pathlib import Path

import numba
import numpy as np
import pytest

from sadbench.suites.runner import run_suite
from sadbench.suites.store import open_results
from sadbench.suites.suite import load_suite
from sadbench.suites.timing import CompileClock, timed

SUITES = Path(__file__).resolve().parent / "suites"


def test_compile_clock_counts_compilation_once_and_only_compilation():
    @numba.njit
    def inner(x):
        return np.sin(x) * 2.0

    @numba.njit
    def outer(x):
        return inner(x) + 1.0

    with CompileClock() as clock:
        start = time.perf_counter()
        outer(1.0)  # compiles outer, and inner inside it: nested events count once
        total = time.perf_counter() - start
    assert 0.0 < clock.seconds <= total
    with CompileClock() as again:
        outer(2.0)
    assert again.seconds == 0.0


def test_waiting_for_a_helper_compilation_counts_as_compile_time(tmp_path, monkeypatch):
    """A first run compiles stiff steps in a helper process (sadbench.jit.compile_elsewhere); the time this
    process waits for a function the helper is compiling is compile time, not run time."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    from sadbench import jit

    @jit.compiled("float64(float64)")
    def twice(x):
        return 2.0 * x

    holding = threading.Event()

    def helper():  # stands in for the helper process: holds the compile lock for a second
        with jit.compiling_alone(twice):
            holding.set()
            time.sleep(1.0)

    thread = threading.Thread(target=helper)
    thread.start()
    holding.wait()
    with CompileClock() as clock:
        start = time.perf_counter()
        twice.ready()
        elapsed = time.perf_counter() - start
    thread.join()
    assert twice(1.5) == 3.0
    assert 0.9 <= clock.seconds <= elapsed


def test_timed_runs_a_warm_up_then_the_repeats():
    calls = []

    def fn():
        calls.append(time.perf_counter())
        time.sleep(0.01 * len(calls))
        return len(calls)

    result, timing = timed(fn, repeat=3)
    assert result == 4 and len(calls) == 4 and timing.warmup
    assert len(timing.samples) == 3 and all(s >= 0.01 * (k + 2) for k, s in enumerate(timing.samples))
    assert timing.min == min(timing.samples) and timing.median == statistics.median(timing.samples)
    single, one = timed(fn, repeat=1)
    assert single == 5 and len(one.samples) == 1 and not one.warmup


def test_repeat_stores_every_sample_with_min_and_median_and_the_same_results(tmp_path):
    once = run_suite(load_suite(SUITES / "tiny.yaml"), tmp_path / "once")
    repeated = run_suite(load_suite(SUITES / "tiny.yaml"), tmp_path / "repeated", repeat=3)
    with open_results(once.path) as a, open_results(repeated.path) as b:
        for case_a, case_b in zip(a.cases(), b.cases()):
            samples = case_b["wall_times"]
            assert len(samples) == 3 and case_b["repeat"] == 3 and case_a["repeat"] == 1
            assert case_b["wall_time_min"] == min(samples)
            assert case_b["wall_time_median"] == case_b["wall_time"] == statistics.median(samples)
            assert case_a["wall_times"] == [case_a["wall_time"]] and case_a["compile_time"] >= 0.0
            assert case_b["compile_time"] >= 0.0
            for m_a, m_b in zip(a.members(case_a["case_id"]), b.members(case_b["case_id"])):
                assert {k: v for k, v in m_a.items()} == {k: v for k, v in m_b.items()}  # same bits
        (run,) = b.runs()
        assert run["options"]["repeat"] == 3 and run["finished_at"] >= run["started_at"]


def test_repeat_must_be_positive(tmp_path):
    from sadbench.errors import SadbenchError

    with pytest.raises(SadbenchError, match="repeat must be a positive integer, got 0"):
        run_suite(load_suite(SUITES / "tiny.yaml"), tmp_path, repeat=0)
