"""benchmarks/head_to_head.py runs end to end, and refuses to time implementations that disagree.

Only the numpy + scipy peer is used (JAX and PyTorch are optional extras); nothing here is timed.
"""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def head_to_head(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import head_to_head

    return head_to_head


def test_sadbench_and_numpy_agree_and_are_tabled():
    done = subprocess.run([sys.executable, "head_to_head.py", "--method", "rk4", "--activation", "tanh", "--members",
                           "1", "2", "--peers", "numpy", "--repeats", "1"], cwd=BENCHMARKS, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines() if line.lstrip().startswith("rk4")]
    assert [(r[2], r[3], r[4]) for r in rows] == [("1", "sadbench-cpu", "cpu"), ("1", "numpy+scipy", "cpu"),
                                                  ("2", "sadbench-cpu", "cpu"), ("2", "numpy+scipy", "cpu")]
    for row in rows:  # ΔL0 and ΔL(T) against sadbench: the same initial state, the same RK4 arithmetic
        assert float(row[-2]) <= 1e-12 and float(row[-1]) <= 1e-9
        assert float(row[8]) > 0.0  # µs per member-step
    assert done.stdout.count("faster per member-step than the fastest peer") == 2


def test_a_disagreeing_implementation_is_refused(head_to_head):
    reference = dict(initial=[1.0, 2.0], final=[0.5, 0.25])
    assert head_to_head.check("peer", reference, dict(initial=[1.0], final=[0.5 * (1 + 1e-10)]), 1e-9)[1] < 1e-9
    with pytest.raises(SystemExit, match="final loss 1.0e-06"):
        head_to_head.check("peer", reference, dict(initial=[1.0, 2.0], final=[0.5, 0.25 * (1 + 1e-6)]), 1e-9)
    with pytest.raises(SystemExit, match="initial loss"):
        head_to_head.check("peer", reference, dict(initial=[1.0 + 1e-9, 2.0], final=[0.5, 0.25]), 1e-9)
