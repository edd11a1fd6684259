"""sadbench.jit: the disk cache of a compiled function is keyed by every file its code comes from.

numba keys a cached function by its own file only; these tests edit a *dependency* in a temporary package
and run a fresh process each time, as a user editing sadbench's source would.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

USER = """
from numba import njit
from sadbench.jit import compiled

import dep
from dep import scale


@compiled()
def by_attribute(x):
    return dep.offset(x)


@compiled()
def by_name(x):
    return scale(x)


@njit(cache=True)
def plain_by_name(x):
    return scale(x)
"""

DEP = """
from numba import njit


@njit
def offset(x):
    return x + {offset}


@njit
def scale(x):
    return {factor} * x
"""


def _write(folder, name, text):
    (folder / name).write_text(textwrap.dedent(text))


def _run(folder, expression):
    """Print ``expression`` after ``from user import *`` in a fresh process with the folder's own numba cache."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(folder / "cache"), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=str(folder))
    result = subprocess.run([sys.executable, "-c", f"from user import *; print({expression})"], env=env, cwd=folder,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def package(tmp_path):
    _write(tmp_path, "user.py", USER)
    _write(tmp_path, "dep.py", DEP.format(offset=1.0, factor=2.0))
    _write(tmp_path, "other.py", "VALUE = 1\n")
    return tmp_path


def test_an_edit_of_a_dependency_recompiles_its_callers(package):
    calls = "(by_attribute(1.0), by_name(1.0), plain_by_name(1.0))"
    assert _run(package, calls) == "(2.0, 2.0, 2.0)"
    hits = "(by_attribute(1.0), by_name(1.0), by_attribute.stats.cache_hits, by_name.stats.cache_hits)"
    assert _run(package, hits) == "(2.0, 2.0, Counter({(float64,): 1}), Counter({(float64,): 1}))"  # loaded
    _write(package, "dep.py", DEP.format(offset=10.0, factor=30.0))
    # plain numba keeps the stale machine code of dep.scale (2.0): the reason for sadbench.jit
    assert _run(package, calls) == "(11.0, 30.0, 2.0)"


def test_an_edit_of_an_unrelated_file_keeps_the_cache(package):
    assert _run(package, "by_name(3.0)") == "6.0"
    _write(package, "other.py", "VALUE = 2\n")
    assert _run(package, "(by_name(3.0), by_name.stats.cache_hits)") == "(6.0, Counter({(float64,): 1}))"


def test_source_files_follow_globals_modules_and_closures():
    from sadbench.jit import source_files
    from sadbench.model import blocks, gradient, layout, second_order
    from sadbench.model.vmath import bits, exponential

    assert {second_order.__file__, layout.__file__, blocks.__file__} <= source_files(second_order.r_pass)
    # the passes call the products through first-class function arguments: not linked in, not in the key
    assert blocks.__file__ not in source_files(gradient.backward)
    assert blocks.__file__ not in source_files(gradient.loss_grad_pass)
    from sadbench_plugins import losses

    assert {exponential.__file__, bits.__file__} <= source_files(losses.exponential)


def _fresh_process(tmp_path, code):
    """Run ``code`` in a new interpreter with an empty numba cache; return its stdout."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


COUNT_COMPILATIONS = """
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)
    def on_end(self, ev):
        pass
event.register("numba:compile", Count())
"""


def test_nothing_compiles_on_import_and_the_registry_waits_for_use(tmp_path):
    out = _fresh_process(tmp_path, COUNT_COMPILATIONS + textwrap.dedent("""
        import sadbench, sadbench.cli, sadbench.integrate, sadbench.model.network, sadbench.solvers.auto
        from sadbench import Network, integrate, Solution
        registry = sadbench.get_registry()
        print(len(compiled), sorted(registry.names("integrator"))[:2])
        """))
    assert out == "0 ['auto', 'bdf']"


def test_a_first_order_run_compiles_no_stiff_solver_and_no_hessian(tmp_path):
    out = _fresh_process(tmp_path, """
        import numpy as np, sadbench
        from sadbench.model import second_order
        from sadbench.solvers import auto, bdf, rkc, rosenbrock
        net = sadbench.Network([1, 3, 1], "tanh")
        X = np.linspace(-1, 1, 5)[:, None]
        sol = sadbench.integrate(net, net.init(seed=0, ensemble=2), X, X**2, integrator="dopri5", t_end=1.0)
        untouched = [bdf.bdf_attempt, auto.auto_attempt, rkc.rkc_attempt, rosenbrock.rosenbrock_attempt,
                     second_order.hvp_pass, second_order.hessian_pass, second_order.r_pass]
        print([str(s) for s in sol.status], [len(fn.overloads) for fn in untouched])
        """)
    assert out == "['success', 'success'] [0, 0, 0, 0, 0, 0, 0]"


def test_the_bdf_step_compiles_no_shape_mismatch_message_of_its_own(tmp_path):
    # numba compiles a formatted shape-mismatch error for every slice assignment and in-place array
    # expression (seconds of a first run); the BDF path writes them as sadbench.solvers.vectors loops, and
    # Anderson's small least-squares system is solved by loops rather than numpy's np.linalg.solve
    out = _fresh_process(tmp_path, """
        from numba.core import event
        stack, requesters = [], set()
        class Requesters(event.Listener):
            def on_start(self, ev):
                fn = ev.data["dispatcher"].py_func
                if "raise_with_shape_context" in fn.__qualname__:
                    requesters.add(stack[-1])
                stack.append(fn.__module__ + "." + fn.__qualname__)
            def on_end(self, ev):
                stack.pop()
        event.register("numba:compile", Requesters())
        from sadbench.solvers import bdf
        bdf.bdf_attempt.ready()
        print(len(bdf.bdf_attempt.overloads), sorted(requesters))
        """)
    assert out == "1 []"


def test_a_helper_process_compiles_into_the_cache_this_process_loads(tmp_path):
    out = _fresh_process(tmp_path, """
        import sadbench.jit as jit
        from sadbench.solvers import rk
        jit.compile_elsewhere(rk.rk_attempt)
        helper = jit._HELPERS[rk.rk_attempt]
        helper.wait()
        rk.rk_attempt.ready()  # the helper is done: loaded from the cache
        print(helper.returncode, dict(rk.rk_attempt.stats.cache_hits).popitem()[1],
              sum(rk.rk_attempt.stats.cache_misses.values()), rk.rk_attempt.cached())
        jit._HELPERS.clear()
        jit.compile_elsewhere(rk.rk_attempt)  # cached now: no helper
        print(rk.rk_attempt in jit._HELPERS)
        """)
    assert out.splitlines() == ["0 1 0 True", "False"]


def test_the_helper_compiles_the_sadbench_this_process_runs_not_one_in_its_working_folder(tmp_path):
    """`sadbench run` from a source checkout with sadbench installed: the helper, started in the same folder,
    must import the installed package this process runs, not the checkout's copy, or its cache goes unused."""
    shadow = tmp_path / "work" / "sadbench"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('the copy in the working folder')\n")
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import sadbench.jit as jit
        from sadbench.solvers import rk
        jit.compile_elsewhere(rk.rk_attempt)
        jit._HELPERS[rk.rk_attempt].wait()
        rk.rk_attempt.ready()
        print(sum(rk.rk_attempt.stats.cache_hits.values()), sum(rk.rk_attempt.stats.cache_misses.values()))
        """))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("PYTHONPATH", None)
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path / "work", env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "0"]  # loaded what the helper compiled


def test_a_function_another_process_is_compiling_is_waited_for_and_loaded(tmp_path):
    """Two processes that need one function compile it once: the second waits for the first's compile lock
    and then loads the function from the cache."""
    out = _fresh_process(tmp_path, """
        import subprocess, sys, time
        import sadbench.jit as jit
        from sadbench.solvers import rk
        child = ("import time; from sadbench.solvers import rk; start = time.perf_counter(); rk.rk_attempt.ready(); "
                 "print(round(time.perf_counter() - start, 1), sum(rk.rk_attempt.stats.cache_misses.values()), "
                 "sum(rk.rk_attempt.stats.cache_hits.values()))")
        with jit.compiling_alone(rk.rk_attempt):  # as a helper compiling it would
            waiting = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
            time.sleep(2.0)
            rk.rk_attempt.ready()  # the lock is re-entrant: this process compiles it
        print(sum(rk.rk_attempt.stats.cache_misses.values()))
        print(waiting.communicate()[0].strip())
        """)
    compiled_here, waited = out.splitlines()
    seconds, misses, hits = waited.split()
    assert compiled_here == "1" and (misses, hits) == ("0", "1") and float(seconds) >= 1.0


def _running(pid):
    """Whether process ``pid`` exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_helper_process_dies_with_its_parent(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    code = textwrap.dedent("""
        import os, signal, time
        import sadbench.jit as jit
        from sadbench.solvers import bdf
        jit.compile_elsewhere(bdf.bdf_attempt)  # seconds of compilation
        print(jit._HELPERS[bdf.bdf_attempt].pid, flush=True)
        time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGKILL)
        """)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr
    helper = int(result.stdout.strip())
    deadline = time.monotonic() + 5.0  # compiling bdf takes longer
    while _running(helper) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(helper)
