"""Running a suite: one ensemble integration per case, each result stored the moment it finishes.

A case that raises (a plugin error, a bad target parameter, anything) is stored as failed with its message
and traceback, and the run goes on; cases already stored without error are skipped unless ``rerun``.
"""

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sadbench.integrate import integrate
from sadbench.network import Network
from sadbench.solution import Solution
from sadbench.store import Store


@dataclass(frozen=True)
class CaseResult:
    """A finished case: the solution, or the error that stopped it. ``wall_time`` counts integration
    only (compilation excluded) when it succeeded, everything up to the failure otherwise."""

    case: object
    solution: Solution | None
    wall_time: float
    error: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class RunReport:
    """Where the results went, what ran now and what was already stored."""

    path: Path
    results: list  # CaseResult, for the cases run now
    skipped: list  # Case, already stored


def _data(params, registry, base):
    target = dict(params["target"])
    name, seed = target.pop("name"), target.pop("seed")
    if "path" in target:
        target["path"] = str(base / target["path"])
    return registry.get("target", name)(seed=seed, **target)


def _save_options(save):
    if "times" in save:
        return {"save": save["times"]}
    return {"save": save["schedule"], "save_per_decade": save["per_decade"], "t_first": save.get("t_first")}


def integrate_case(case, registry, base=Path(".")):
    """Build the network, data and initial ensemble of ``case`` and integrate it; returns the Solution."""
    params = case.params
    network = params["network"]
    net = Network(network["widths"], network["activation"], network["bias"], registry=registry)
    X, Y = _data(params, registry, base)
    init = dict(params["init"])
    scheme = init.pop("scheme")
    theta0 = np.stack([net.init(seed=seed, scheme=scheme, **init) for seed in case.seeds])
    options = dict(params["integrator"])
    method = options.pop("name")
    return integrate(net, theta0, X, Y, loss=params["loss"], integrator=method, t_end=params["horizon"],
                     detectors=params["detectors"], **options, **_save_options(params["save"]))


def run_case(case, registry, base=Path(".")):
    start = time.perf_counter()
    try:
        solution = integrate_case(case, registry, base)
    except Exception as exc:
        return CaseResult(case, None, time.perf_counter() - start, f"{type(exc).__name__}: {exc}",
                          traceback.format_exc())
    return CaseResult(case, solution, solution.wall_time)


def _summary(result):
    if result.error is not None:
        return f"failed: {result.error}"
    labels = [v.label for v in result.solution.verdict]
    counts = ", ".join(f"{label} ×{labels.count(label)}" for label in dict.fromkeys(labels))
    return f"{len(labels)} seeds integrated in {result.wall_time:.2f} s: {counts}"


def results_path(suite, results_dir="results"):
    return Path(results_dir) / f"{suite.name}.sqlite"


def run_suite(suite, results_dir="results", progress=None, rerun=False):
    """Run every case of ``suite`` not yet stored (all with ``rerun``) into ``RESULTS_DIR/<name>.sqlite``.

    ``progress(line)`` is called as each case starts, finishes or is skipped.
    """
    progress = progress or (lambda line: None)
    path = results_path(suite, results_dir)
    results, skipped = [], []
    with Store(path) as store:
        done = set() if rerun else store.finished_ids()
        total = len(suite.cases)
        for i, case in enumerate(suite.cases, 1):
            head = f"[{i}/{total}] {case.label} ({case.case_id})"
            if case.case_id in done:
                skipped.append(case)
                progress(f"{head}: skipped, already stored (use --rerun to run it again)")
                continue
            progress(f"{head}: running {len(case.seeds)} seeds to t = {case.params['horizon']:g}")
            start = time.perf_counter()
            result = run_case(case, suite.registry, suite.path.parent)
            store.save(suite.name, result)
            results.append(result)
            progress(f"{head}: {_summary(result)} ({time.perf_counter() - start:.1f} s with setup)")
    return RunReport(path, results, skipped)
