"""A first run talks before it compiles: the plan is its first line, and compilation is a step of the
progress display, shown on a first run (empty numba cache) and not on the next one."""

import io
import os
import subprocess
import sys
from pathlib import Path

from sadbench.suites.progress import COMPILING, Progress

TINY = Path(__file__).parent / "suites" / "tiny.yaml"


def test_nested_compilations_are_one_step_told_once():
    stream = io.StringIO()
    progress = Progress(2, stream, tty=False)
    progress.current = "toy"
    for started in (True, True, False, True, False, False):  # a compilation that compiles two others
        progress.compiling(started)
        if started:
            assert progress.current == COMPILING
    assert progress.current == "toy"
    progress.compiling(True)
    progress.compiling(False)
    assert stream.getvalue().count(COMPILING) == 1


def _run(tmp_path, results):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    command = [str(Path(sys.executable).with_name("sadbench")), "run", str(TINY), "--results", str(results)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stderr.splitlines()


def test_the_plan_comes_first_and_a_first_run_shows_its_compilation(tmp_path):
    cold = _run(tmp_path, tmp_path / "cold")
    assert cold[0].startswith("tiny: 2 of 2 cases to run, 4 members, integrators: dopri5, rk4; results in ")
    assert any(line.startswith(COMPILING) for line in cold)
    warm = _run(tmp_path, tmp_path / "warm")  # the same numba cache, now filled
    assert warm[0] == cold[0].replace("cold", "warm")
    assert not any(COMPILING in line for line in warm)
