"""The asv benchmarks (asv.conf.json, benchmarks/asv_bench/) stay runnable: asv's own discovery imports
every module of the benchmark package, each benchmark runs its setup and body once for one parameter set,
and ``asv check`` passes against the current environment. Nothing here is timed."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from asv_runner._aux import update_sys_path
from asv_runner.discovery import disc_benchmarks
from conftest import PLUGIN_FILE

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks" / "asv_bench"
COLD_IMPORT = "integrators.Compile.timeraw_import_cold"  # a whole numba compile: slow tests only


@pytest.fixture
def discover(monkeypatch):
    """asv's discovery of benchmarks/ in this process, for the integrators (and plugin files) given through
    the benchmarks' environment variables; the benchmark modules are imported afresh each time, since
    their parameter grids are read from the variables at import."""

    def run(integrators, plugins=()):
        monkeypatch.setenv("SADBENCH_ASV_INTEGRATORS", ",".join(integrators))
        monkeypatch.setenv("SADBENCH_ASV_PLUGINS", os.pathsep.join(str(p) for p in plugins))
        monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
        monkeypatch.setattr(sys, "path", list(sys.path))
        for name in [m for m in sys.modules if m == BENCHMARKS.name or m.startswith(BENCHMARKS.name + ".")]:
            monkeypatch.delitem(sys.modules, name)
        update_sys_path(str(BENCHMARKS))
        return {b.name: b for b in disc_benchmarks(str(BENCHMARKS))}

    return run


def run_once(benchmark, caches):
    """setup_cache (once per cache key), setup and the body of ``benchmark`` for its first parameter set."""
    benchmark.set_param_idx(0)
    if benchmark.setup_cache_key is not None:
        if benchmark.setup_cache_key not in caches:
            caches[benchmark.setup_cache_key] = benchmark.do_setup_cache()
        benchmark.set_cache(caches[benchmark.setup_cache_key])
    assert not benchmark.do_setup(), f"{benchmark.name} was skipped"
    try:
        return benchmark.do_run()
    finally:
        benchmark.do_teardown()


def test_every_benchmark_runs_once(discover):
    benchmarks = discover(["dopri5"])
    expected = {f"integrators.Speed.{n}" for n in ("time_steps", "time_horizon")} | {
        f"integrators.Accuracy.{n}" for n in ("track_rel_error_loss", "track_rel_error_theta",
                                              "track_grads_to_tolerance")} | {
        "integrators.Verdicts.track_misclassified", "integrators.Verdicts.track_undecided",
        "integrators.FirstRun.timeraw_first_run", COLD_IMPORT} | {
        f"peers.SideBySide.{n}" for n in ("track_seconds", "track_ratio_to_sadbench_auto", "track_rel_error")}
    assert set(benchmarks) == expected
    caches, values = {}, {}
    for name, benchmark in benchmarks.items():
        if name != COLD_IMPORT:
            values[name] = run_once(benchmark, caches)
    # dopri5 at rtol 1e-6 on the small tanh problem against scipy's DOP853 reference at 1e-13
    assert 0 < values["integrators.Accuracy.track_rel_error_loss"] < 1e-5
    assert 0 < values["integrators.Accuracy.track_rel_error_theta"] < 1e-5
    grads = values["integrators.Accuracy.track_grads_to_tolerance"]
    assert math.isfinite(grads) and grads > 0
    assert values["integrators.Verdicts.track_misclassified"] == 0  # ground_truth.yaml: dopri5 gets all right
    assert all(s > 0 for s in values["integrators.Speed.time_horizon"]["samples"])
    # SAD 1D to 1e4, sadbench auto at rtol 1e-8 against itself at rtol 1e-11, timed against itself
    assert 0 < values["peers.SideBySide.track_rel_error"] < 1e-6
    assert 0 < values["peers.SideBySide.track_seconds"]
    assert 0.2 < values["peers.SideBySide.track_ratio_to_sadbench_auto"] < 5


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SADBENCH_SLOW_TESTS"), reason="a whole numba compile: set SADBENCH_SLOW_TESTS=1")
def test_cold_import_benchmark_runs(discover):
    result = run_once(discover(["dopri5"])[COLD_IMPORT], {})
    assert result["samples"][0] > 0


def test_plugin_integrator_joins_the_grid_and_missing_ones_are_skipped(discover):
    benchmarks = discover(["ralston3", "no_such_method"], plugins=[PLUGIN_FILE])
    speed = benchmarks["integrators.Speed.time_horizon"]
    assert speed.params[0] == ["'ralston3'", "'no_such_method'"]
    assert run_once(speed, {})["samples"]
    speed.set_param_idx(len(speed.params[1]))  # no_such_method × the first problem
    assert speed.do_setup()  # NotImplementedError: asv records the combination as skipped


def test_asv_check_passes():
    out = subprocess.run([sys.executable, "-m", "asv", "check", "--python=same"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "No problems found" in out.stdout, out.stdout
