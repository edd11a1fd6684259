"""Runs and results files that cannot hurt each other: a file that is not a sadbench store is refused and left
as it was, workers die with their run, two runs on one file share the cases instead of computing them twice,
and --retry-failed also reruns cases whose members ended non-finite."""

import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sadbench.cli import build_cli
from sadbench.suites.runner import run_suite
from sadbench.suites.store import Store
from sadbench.suites.suite import load_suite

SUITES = Path(__file__).resolve().parent / "suites"
TINY = SUITES / "tiny.yaml"
START_TIMEOUT_S = 300


# --- files that are not sadbench stores ------------------------------------------------------------------


def foreign_sqlite(path):
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE meta (name TEXT, size INTEGER)")
        connection.execute("INSERT INTO meta VALUES ('photo.jpg', 1024)")
    connection.close()


KINDS = {
    "empty": (lambda path: path.write_bytes(b""), "an empty file, not a sadbench results file; left as it is"),
    "text": (lambda path: path.write_text("name,value\na,1\n"),
             "not a sadbench results file (not an SQLite file); left as it is"),
    "other sqlite": (foreign_sqlite, "an SQLite file, but not a sadbench results file; left as it is"),
}
COMMANDS = {
    "report": lambda path, out: ["report", str(path), "--out", str(out)],
    "plot": lambda path, out: ["plot", str(path), "--out", str(out)],
    "export": lambda path, out: ["export", str(path), "--format", "csv"],
    "run": lambda path, out: ["run", str(TINY), "--results", str(path.parent)],
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("kind", KINDS)
def test_a_file_that_is_not_a_store_is_refused_and_left_as_it_was(tmp_path, kind, command):
    make, reason = KINDS[kind]
    path = tmp_path / "tiny.sqlite"  # the results file `run` would write for tests/suites/tiny.yaml
    make(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    result = CliRunner().invoke(build_cli(), COMMANDS[command](path, tmp_path / "out"))
    assert result.exit_code == 1, result.output
    assert result.stderr == f"error: {path}: {reason}\n"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.sqlite"]  # nothing written beside it either


# --- claims ----------------------------------------------------------------------------------------------


def test_a_claim_holds_while_its_run_lives_and_expires_when_it_dies(tmp_path):
    host = socket.gethostname()
    with Store(tmp_path / "claims.sqlite") as store:
        since = "2000-01-01T00:00:00+00:00"
        assert store.claim("a", f"{host}:{os.getpid()}:one", since) is None
        assert store.claim("a", f"{host}:{os.getpid()}:two", since) == f"{host}:{os.getpid()}:one"  # live
        assert store.claim("a", f"{host}:{os.getpid()}:one", since) is None  # its own claim again
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
        assert store.claim("b", f"{host}:{dead}:gone", since) is None
        assert store.claim("b", f"{host}:{os.getpid()}:two", since) is None  # its process has ended
        assert store.claim("c", f"elsewhere:{os.getpid()}:far", since) is None
        assert store.claim("c", f"{host}:{os.getpid()}:two", since) == f"elsewhere:{os.getpid()}:far"
        store.connection.execute("UPDATE claims SET heartbeat = heartbeat - 120 WHERE case_id = 'c'")
        assert store.claim("c", f"{host}:{os.getpid()}:two", since) is None  # not renewed for 2 minutes
        store.release(f"{host}:{os.getpid()}:two")
        assert [tuple(row) for row in store.connection.execute("SELECT case_id FROM claims")] == [("a",)]


def slow_suite(tmp_path, cases, pause=0.75):
    """``cases`` cases of two seeds that pause ``pause`` seconds each (tests/suites/pausing.yaml)."""
    text = (SUITES / "pausing.yaml").read_text().replace("[pause_plugin.py]", f"[{SUITES / 'pause_plugin.py'}]")
    text = text.replace("seconds: 0.75", f"seconds: {pause}")
    points = ", ".join(f"[1, {1 + k / 4}]" for k in range(cases))
    text = text.replace("target.Y: [[1, 2], [0.5, 1], [1, 1], [2, 1]]", f"target.Y: [{points}]")
    path = tmp_path / "slow.yaml"
    path.write_text(text)
    return path


def command(*args):
    return [sys.executable, "-c", "from sadbench.cli import main; main()", *map(str, args)]


def stored(path):
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM cases").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def wait_for(condition, process, what):
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def computed(stderr):
    """The case ids a run computed, from its progress lines."""
    return [line.split("(")[1].split(")")[0] for line in stderr.splitlines() if "seeds integrated" in line]


def test_two_runs_on_one_file_never_compute_the_same_case(tmp_path):
    suite, cases = slow_suite(tmp_path, 6, pause=2.5), 6  # 5 s a case: the second run starts within them
    results = tmp_path / "results"
    first = subprocess.Popen(command("run", suite, "--results", results), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    wait_for(lambda: stored(results / "slow.sqlite") >= 1, first, "the first run's first case")
    second = subprocess.run(command("run", suite, "--results", results), capture_output=True, text=True,
                            timeout=START_TIMEOUT_S)
    _, first_err = first.communicate(timeout=START_TIMEOUT_S)
    assert first.returncode == 0 and second.returncode == 0, first_err + second.stderr
    mine, theirs = computed(first_err), computed(second.stderr)
    assert not set(mine) & set(theirs), (first_err, second.stderr)
    assert len(mine) + len(theirs) == cases and stored(results / "slow.sqlite") == cases
    assert theirs and "being run by" in second.stderr, second.stderr  # it overlapped the first and shared


# --- workers die with their run --------------------------------------------------------------------------


def children(pid):
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid) and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def alive(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc (Linux)")
def test_sigkill_of_a_parallel_run_leaves_no_workers(tmp_path):
    suite = slow_suite(tmp_path, 4)
    run = subprocess.Popen(command("run", suite, "--results", tmp_path / "results", "-j", "2"),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for(lambda: len(children(run.pid)) >= 3, run, "the resource tracker and two workers")
    workers = children(run.pid)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    run.stderr.close()
    deadline = time.monotonic() + 10.0
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)]


# --- --retry-failed and non-finite members ---------------------------------------------------------------


def test_retry_failed_reruns_cases_whose_members_ended_non_finite(tmp_path):
    path = tmp_path / "blowup.yaml"
    path.write_text("defaults:\n  network: {widths: [1, 4, 1], activation: relu}\n"
                    "  target: {name: separable, d: 1, n: 8}\n  loss: exponential\n"
                    "  integrator: {name: euler, dt: 50.0}\n  horizon: 1000.0\n  seeds: [0, 1]\n"
                    "cases:\n  - label: blows up\n  - label: calm\n    integrator: {name: euler, dt: 0.01}\n"
                    "    horizon: 0.1\n")
    suite = load_suite(path)
    first = run_suite(suite, tmp_path / "results")
    statuses = {r.label: {m["status"] for m in r.members} for r in first.results}
    assert statuses == {"blows up": {"nonfinite"}, "calm": {"success"}}
    again = run_suite(suite, tmp_path / "results")
    assert again.results == [] and [t.label for t in again.nonfinite_before] == ["blows up"]
    retried = run_suite(suite, tmp_path / "results", retry_failed=True)
    assert [r.label for r in retried.results] == ["blows up"] and [t.label for t in retried.skipped] == ["calm"]
