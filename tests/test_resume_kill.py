"""A run killed with SIGKILL keeps every case that had finished, and the rerun computes only the rest."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner

from sadbench.cli import build_cli

SUITE = Path(__file__).resolve().parent / "suites" / "pausing.yaml"
N_CASES, N_SEEDS = 4, 2
START_TIMEOUT_S = 300


def _finished(path):
    """{case_id: finished_at} as another process sees the file now ({} while it does not exist yet)."""
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return dict(connection.execute("SELECT case_id, finished_at FROM cases"))
    except sqlite3.OperationalError:  # the schema is being created
        return {}


def _run_until_one_case_is_stored(results):
    command = [sys.executable, "-c", "from sadbench.cli import main; main()", "run", str(SUITE), "--results",
               str(results)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    path = results / "pausing.sqlite"
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _finished(path):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "no case finished in time"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    process.stderr.close()
    return path


def test_sigkill_loses_nothing_and_the_rerun_computes_only_the_rest(tmp_path):
    path = _run_until_one_case_is_stored(tmp_path)
    before = _finished(path)
    assert 1 <= len(before) < N_CASES, f"the kill came too late to test anything: {len(before)} cases stored"

    result = CliRunner().invoke(build_cli(), ["run", str(SUITE), "--results", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert f"skipped {len(before)} cases already stored" in result.stderr
    ran = [line for line in result.stderr.splitlines() if "seeds integrated" in line]
    assert len(ran) == N_CASES - len(before)
    assert not any(case_id in line for line in ran for case_id in before)

    after = _finished(path)
    assert len(after) == N_CASES and {k: after[k] for k in before} == before  # kept, not recomputed
    connection = sqlite3.connect(path)
    assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert connection.execute("SELECT COUNT(*), COUNT(DISTINCT case_id || '/' || seed) FROM members").fetchone() \
        == (N_CASES * N_SEEDS, N_CASES * N_SEEDS)
    per_member = connection.execute("SELECT COUNT(*) FROM series GROUP BY case_id, seed").fetchall()
    assert len(per_member) == N_CASES * N_SEEDS and len(set(per_member)) == 1  # no half-written series
