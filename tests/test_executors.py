"""Executors give the serial results: local processes and a Dask LocalCluster; and the progress display."""

import io
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from sadbench.cli import build_cli
from sadbench.errors import SadbenchError
from sadbench.suites.executors import Dask, Local
from sadbench.suites.progress import Progress, duration
from sadbench.suites.runner import run_suite
from sadbench.suites.store import CaseRecord, open_results
from sadbench.suites.suite import load_suite

SUITES = Path(__file__).resolve().parent / "suites"
TINY = SUITES / "tiny.yaml"
_VOLATILE = ("wall_time", "worker", "finished_at", "run_id", "wall_times", "wall_time_min", "wall_time_median",
             "compile_time")


def stored(path):
    """Everything stored except what depends on when and where a case ran."""
    with open_results(path) as store:
        cases = sorted(({k: v for k, v in row.items() if k not in _VOLATILE} for row in store.cases()),
                       key=lambda row: row["case_id"])  # parallel cases are stored in the order they finish
        series = {(m["case_id"], m["seed"]): {k: [None if x != x else x for x in v.tolist()]  # NaN != NaN
                                              for k, v in store.series(m["case_id"], m["seed"]).items()}
                  for m in store.members()}
        return cases, store.members(), series


def workers(path):
    with open_results(path) as store:
        return {row["worker"].rsplit(":", 1)[1] for row in store.cases()}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    report = run_suite(load_suite(TINY), tmp_path_factory.mktemp("serial"))
    assert workers(report.path) == {str(os.getpid())}
    return stored(report.path)


def test_local_processes_give_the_serial_results(serial, tmp_path):
    report = run_suite(load_suite(TINY), tmp_path, executor=Local(jobs=2))
    assert len(report.results) == 2
    assert stored(report.path) == serial
    assert str(os.getpid()) not in workers(report.path)


def test_dask_local_cluster_gives_the_serial_results(serial, tmp_path):
    report = run_suite(load_suite(TINY), tmp_path, executor=Dask(jobs=1, processes=False))
    assert sorted(r.label for r in report.results) == ["line", "toy"]
    assert stored(report.path) == serial
    again = run_suite(load_suite(TINY), tmp_path, executor=Dask(jobs=1, processes=False))
    assert again.results == [] and len(again.skipped) == 2


def test_an_unreachable_scheduler_is_a_user_error():
    executor = Dask("tcp://127.0.0.1:9", timeout=1)
    with pytest.raises(SadbenchError, match=r"^cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9: "):
        list(executor.map(print, []))


def test_scheduler_needs_the_dask_executor(tmp_path):
    result = CliRunner().invoke(build_cli(), ["run", str(TINY), "--results", str(tmp_path), "--scheduler",
                                              "tcp://127.0.0.1:8786"])
    assert result.exit_code == 1 and result.stderr == "error: --scheduler needs --executor dask\n"
    assert not (tmp_path / "tiny.sqlite").exists()


def _record(label, error=None):
    members = [] if error else [{"verdict": "diverging"}, {"verdict": "diverging"}, {"verdict": "undecided"}]
    return CaseRecord("0123abcd", "s", label, {}, {}, 1.5, "here:1", error=error, members=members)


def test_progress_without_a_terminal_writes_one_line_per_case():
    stream = io.StringIO()
    progress = Progress(2, stream, tty=False)
    progress.finished(_record("a"))
    progress.finished(_record("b", error="ValueError: bad"))
    progress.close()
    first, second = stream.getvalue().splitlines()
    assert first.startswith("[1/2] a (0123abcd): 3 seeds integrated in 1.50 s: diverging ×2, undecided ×1; "
                            "1/2 cases, ")
    assert first.endswith(" elapsed, ETA 0s")
    assert second.startswith("[2/2] b (0123abcd): failed: ValueError: bad; 2/2 cases, 1 failed, ")


def test_progress_on_a_terminal_redraws_a_bar_with_counts_and_eta():
    stream = io.StringIO()
    progress = Progress(4, stream, tty=True)
    progress.finished(_record("a"))
    progress.finished(_record("b", error="ValueError: bad"))
    progress.close()
    text = stream.getvalue()
    assert "\r\x1b[K[############............] 2/4 cases, 1 failed, " in text
    assert "\r\x1b[K[2/4] b (0123abcd): failed: ValueError: bad\n" in text  # failures stay on screen
    assert " ETA " in text and text.endswith("\n")


def test_durations():
    assert [duration(s) for s in (5, 65, 3725, float("nan"))] == ["5s", "1m05s", "1h02m", "?"]


LOSING = """\
# Four cases of at least 0.5 s each; the one with die_once kills its Dask worker the first time it runs.
plugins: [{plugin}]
defaults:
  network: {{widths: [1, 1, 1], activation: tanh, bias: false}}
  init: {{scheme: normal}}
  target: {{name: points, X: [1, 2], Y: [1, 2]}}
  integrator: {{name: dopri5, rtol: 1.0e-8, atol: 1.0e-8}}
  horizon: 5.0
  seeds: [0, 1]
grid:
  target.Y: [[1, 2], [0.5, 1], [1, 1]]
cases:
  - label: lost
    detectors: [{{die_once: {{marker: {marker}, spare_pid: {pid}}}}}]
  - label: kept
    detectors: [nonfinite]
"""


def finished(path):
    with open_results(path) as store:
        return {row["label"]: row["finished_at"] for row in store.cases() if row["error"] is None}


def test_a_dask_run_resumes_after_a_lost_worker(tmp_path):
    """A worker SIGKILLed in the middle of a case: the other cases are stored, the lost one is not stored as
    failed, the run says to run again, and running again runs exactly the missing cases, recomputing none."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    suite_file = tmp_path / "losing.yaml"
    suite_file.write_text(LOSING.format(plugin=SUITES / "die_once_plugin.py", marker=tmp_path / "died",
                                        pid=os.getpid()))
    suite = load_suite(suite_file)
    labels = {case.label for case in suite.cases}
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):  # the first death loses the case
        with pytest.raises(SadbenchError, match=r"cases were lost with their Dask workers \(.*'lost .*"
                                                r"finished cases are stored: run again to go on$"):
            run_suite(suite, tmp_path, executor=Dask(jobs=2))
    assert (tmp_path / "died").exists()
    path = tmp_path / "losing.sqlite"
    before = finished(path)
    assert before and any(label.startswith("lost") for label in labels - set(before))  # not stored as failed
    again = run_suite(load_suite(suite_file), tmp_path, executor=Dask(jobs=2))
    assert {r.label for r in again.results} == labels - set(before)  # only the lost ones ran
    assert {t.label for t in again.skipped} == set(before)
    after = finished(path)
    assert set(after) == labels and {label: after[label] for label in before} == before  # none recomputed
