"""Running a suite: cases not yet stored go to an executor, and each result is stored the moment it returns.

The parent process is the only writer of the results file; workers (processes, Dask workers) integrate and
send back a plain :class:`~sadbench.suites.store.CaseRecord`. A case that raises (a plugin error, a bad target
parameter, anything) comes back as a failed record with its message and traceback, and the run goes on.
Cases already stored are skipped: finished ones unless ``rerun``, failed ones and those with a member that
ended non-finite unless ``retry_failed``. Each case is claimed in the results file just before it is handed
to a worker, so two runs on one file share the work instead of computing a case twice (a killed run's
claims expire: :meth:`~sadbench.suites.store.Store.claim`).

A case not stored yet whose only differences from a stored one are a longer horizon, budgets
(``max_steps``, ``max_wall_time``), explicit save times, label or ``expect`` continues the stored run from its
resume state (θ, t, step size, controller and method state) instead of starting over, unless ``rerun``:
raising a suite's horizon from 1e8 to 1e9 integrates only from 1e8 on.

Every call records a run in the store (start and end times, options, environment: versions, git commit,
CPU, GPU) and each case it computes names that run. ``repeat`` N > 1 times each case N times after one
warm-up (:mod:`sadbench.suites.timing`); the stored results are the last run's, which are the same bits.
"""

import functools
import hashlib
import json
import os
import socket
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sadbench.errors import SadbenchError
from sadbench.suites.environment import environment
from sadbench.suites.executors import Local
from sadbench.integrate import integrate, resume
from sadbench.jit import reporting_compilation
from sadbench.solvers.chunked import compile_ahead
from sadbench.model.network import Network
from sadbench.options import STEP_FIELDS, Save, StepControl
from sadbench.plugins import get_registry
from sadbench.suites.inputs import case_data, file_digest
from sadbench.suites.progress import Progress
from sadbench.suites.provenance import local_plugin_files, provenance, result_key
from sadbench.suites.store import CLAIM_EXPIRES_S, SERIES_COLUMNS, CaseRecord, Store
from sadbench.suites.timing import timed

#: How often a run renews its claims: well within their expiry.
CLAIM_RENEW_S = CLAIM_EXPIRES_S / 6


@dataclass(frozen=True)
class Task:
    """One case to run, with everything a fresh worker process needs to build its registry and data."""

    case: object  # sadbench.suites.suite.Case: plain data
    case_id: str  # the store's key (sadbench.suites.provenance.result_key)
    provenance: dict
    suite: str
    plugin_files: tuple
    base: str  # the suite's folder: target paths are relative to it
    lineage: str  # what a longer run of the same flow shares with this one (see the module docstring)
    continued_from: str | None = None  # the stored case this one continues
    start: dict | None = None  # its resume state
    repeat: int = 1  # timed runs after a warm-up (1: one run, no warm-up)
    run_id: str | None = None  # the run (store.runs) this task belongs to

    @property
    def label(self):
        return self.case.label


@dataclass(frozen=True)
class RunReport:
    """Where the results went, what ran now and what was already stored, in suite order."""

    path: Path
    case_ids: list  # every case of the suite
    results: list  # CaseRecord, for the cases run now, in the order they finished
    skipped: list  # Task, stored as finished before this run
    failed_before: list  # Task, stored as failed before this run and not retried
    nonfinite_before: list = field(default_factory=list)  # Task, stored with a non-finite member, not retried
    elsewhere: list = field(default_factory=list)  # (Task, owner): computed by another run on the same file


def run_options(params):
    """``integrate``'s keywords for a resolved case: its integrator section mapped onto ``StepControl``, the
    budgets (``max_wall_time`` is ``max_wall``) and its save section onto ``Save``."""
    options = {key: value for key, value in params["integrator"].items() if key not in STEP_FIELDS}
    options["integrator"] = options.pop("name")
    if "max_wall_time" in options:
        options["max_wall"] = options.pop("max_wall_time")
    step = {key: params["integrator"][key] for key in STEP_FIELDS if key in params["integrator"]}
    if step:
        options["step"] = StepControl(**step)
    options["save"] = Save(**params["save"])
    return options


def integrate_case(case, registry, base=Path("."), start=None):
    """Build the network, data and initial ensemble of ``case`` and integrate it, or continue the resume
    state ``start`` of a shorter run of it to the case's horizon; returns the Solution."""
    params = case.params
    network = params["network"]
    net = Network(network["widths"], network["activation"], network["bias"], registry=registry)
    X, Y = case_data(params["target"], registry, base)
    options = run_options(params)
    if start is not None:
        budgets = {key: options[key] for key in ("max_steps", "max_wall") if key in options}
        save = params["save"].get("times")
        last = float(start["times"][-1])
        return resume(start, params["horizon"], net=net, X=X, Y=Y, detectors=params["detectors"],
                      save=None if save is None else [t for t in save if t > last],
                      backend=params.get("backend", "cpu"), until=params.get("until"), **budgets)
    init = dict(params["init"])
    scheme = init.pop("scheme")
    theta0 = np.stack([net.init(seed=seed, scheme=scheme, **init) for seed in case.seeds])
    return integrate(net, theta0, X, Y, loss=params["loss"], t_end=params["horizon"], detectors=params["detectors"],
                     backend=params.get("backend", "cpu"), precision=params.get("precision", "float64"),
                     until=params.get("until"), **options)


def _verdict_dict(verdict):
    return verdict.to_dict()


def _worker():
    return f"{socket.gethostname()}:{os.getpid()}"


def _record(task, solution, timing):
    stats = solution.integrator_stats if len(task.case.seeds) > 1 else [solution.integrator_stats]
    members, series = [], {}
    for e, seed in enumerate(task.case.seeds):
        verdict = solution.verdict[e]
        members.append({
            "seed": seed, "status": str(solution.status[e]), "t_final": float(solution.t_final[e]),
            "loss_final": float(solution.loss_final[e]), "norm_final": float(solution.norm_final[e]),
            "grad_norm_final": float(solution.grad_norm_final[e]), "n_grad": int(solution.n_grad[e]),
            "n_steps": int(solution.n_steps[e]), "n_rejected": int(solution.n_rejected[e]),
            "verdict": verdict.label, "verdict_json": _verdict_dict(verdict),
            "integrator_stats": None if stats is None else stats[e],
        })
        trace = solution.member_trace(e)
        series[seed] = {name: np.asarray(getattr(trace, name), dtype=float).tolist() for name in SERIES_COLUMNS}
    return CaseRecord(task.case_id, task.suite, task.label, task.case.params, task.provenance, timing.median,
                      _worker(), members=members, series=series, lineage=task.lineage,
                      state=solution.resume_state, continued_from=task.continued_from, timing=timing.as_dict(),
                      run_id=task.run_id)


def failure(task, exc, wall_time, trace=None):
    """The record of a case that raised ``exc`` (in the worker, or in the executor around it)."""
    return CaseRecord(task.case_id, task.suite, task.label, task.case.params, task.provenance, wall_time,
                      _worker(), error=f"{type(exc).__name__}: {exc}",
                      traceback=trace or "".join(traceback.format_exception(exc)), run_id=task.run_id)


def execute(task):
    """Run one task and return its record; never raises for a failing case. Runs in worker processes."""
    start = time.perf_counter()
    try:
        registry = get_registry(task.plugin_files)
        solution, timing = timed(lambda: integrate_case(task.case, registry, Path(task.base), task.start),
                                 task.repeat)
    except Exception as exc:
        return failure(task, exc, time.perf_counter() - start)
    return _record(task, solution, timing)


def lineage(params, origin):
    """The hash of a case's settings without what a continued run may change (module docstring)."""
    kept = {key: value for key, value in params.items() if key not in ("horizon", "label", "expect")}
    kept["integrator"] = {k: v for k, v in params["integrator"].items() if k not in ("max_steps", "max_wall_time")}
    kept["save"] = {k: v for k, v in params["save"].items() if k != "times"}
    text = json.dumps({"params": kept, "provenance": origin}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def plan(suite):
    """One task per case of ``suite``, keyed by the content hash of its settings and provenance."""
    files = local_plugin_files(suite.registry)
    base = suite.path.parent.resolve()
    digest = functools.cache(file_digest)  # each data file read once per plan, and read again by the next
    tasks = []
    for case in suite.cases:
        origin = provenance(case.params, suite.registry, base, digest)
        tasks.append(Task(case, result_key(case.params, origin), origin, suite.name, files, str(base),
                          lineage(case.params, origin)))
    return tasks


def _continuing(task, store):
    """``task``, continuing the stored run of its lineage with the longest horizon up to its own, if any."""
    found = store.latest_state(task.lineage, task.case.params["horizon"])
    if found is None:
        return task
    return replace(task, continued_from=found[0], start=found[1])


def results_path(suite, results_dir="results"):
    return Path(results_dir) / f"{suite.name}.sqlite"


def run_suite(suite, results_dir="results", *, executor=None, rerun=False, retry_failed=False, progress=None,
              repeat=1, command=None):
    """Run every case of ``suite`` that is not stored yet into ``RESULTS_DIR/<name>.sqlite``.

    ``executor`` defaults to :class:`~sadbench.suites.executors.Local` with one job. ``progress`` is the stream
    that shows progress (:class:`~sadbench.suites.progress.Progress`: a bar on a terminal, lines otherwise), None
    for none. ``repeat`` times each case that many times after a warm-up; ``command`` is what the run records
    as its command line. Returns a :class:`RunReport`.
    """
    if not (isinstance(repeat, int) and repeat >= 1):
        raise SadbenchError(f"repeat must be a positive integer, got {repeat!r}")
    executor = executor or Local()
    path = results_path(suite, results_dir)
    with Store(path) as store:
        uses_gpu = any(case.params.get("backend", "cpu") == "cuda" for case in suite.cases)
        options = {"rerun": rerun, "retry_failed": retry_failed, "repeat": repeat,
                   "executor": type(executor).__name__, "jobs": getattr(executor, "jobs", None),
                   "cases": [case.case_id for case in suite.cases]}
        run_id = store.begin_run(suite.name, command, options, environment(uses_gpu))
        tasks = [replace(task, repeat=repeat, run_id=run_id) for task in plan(suite)]
        stored = {} if rerun else store.outcomes()
        if retry_failed:  # failed cases, and finished ones with a member that ended non-finite
            stored = {case_id: outcome for case_id, outcome in stored.items() if outcome == "finished"}
        skipped = [t for t in tasks if stored.get(t.case_id) == "finished"]
        failed_before = [t for t in tasks if stored.get(t.case_id) == "failed"]
        nonfinite_before = [t for t in tasks if stored.get(t.case_id) == "nonfinite"]
        todo = [t for t in tasks if t.case_id not in stored]
        if not rerun:
            todo = [_continuing(t, store) for t in todo]
        progress = Progress(len(todo), progress)
        progress.planned(suite.name, len(tasks), todo, path)
        if todo and all(t.case.params.get("backend", "cpu") == "cpu" for t in todo):
            names = {t.case.params["integrator"]["name"] for t in todo}
            compile_ahead(*(suite.registry.get("integrator", name) for name in sorted(names)))
        progress.skipped(skipped, failed_before, nonfinite_before)
        results, elsewhere = [], []
        with _Claims(store) as claims, reporting_compilation(progress.compiling):
            try:
                for task, record, exc in executor.map(execute, claims.each(todo, elsewhere, progress),
                                                      started=progress.started):
                    record = record if exc is None else failure(task, exc, float("nan"))
                    store.save(record)
                    results.append(record)
                    progress.finished(record)
            finally:
                progress.close()
                store.end_run(run_id)
    return RunReport(path, [t.case_id for t in tasks], results, skipped, failed_before, nonfinite_before,
                     elsewhere)


class _Claims:
    """This run's claims on the cases it computes, renewed by a thread until the run ends (module docstring)."""

    def __init__(self, store):
        self.store = store
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.since = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        self._stop = threading.Event()

    def each(self, tasks, elsewhere, progress):
        """The tasks this run may compute, each claimed just before it is handed out; the others (claimed by a
        live run, or stored by one meanwhile) go to ``elsewhere`` as (task, owner or "stored")."""
        for task in tasks:
            holder = self.store.claim(task.case_id, self.owner, self.since)
            if holder is None:
                yield task
            else:
                elsewhere.append((task, holder))
                progress.elsewhere(task, holder)

    def _renew(self):
        with Store(self.store.path) as store:  # a connection of this thread's own
            while not self._stop.wait(CLAIM_RENEW_S):
                store.renew(self.owner)

    def __enter__(self):
        threading.Thread(target=self._renew, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.store.release(self.owner)
