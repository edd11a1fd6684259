"""sadbench.jit: the disk cache of a compiled function is keyed by every file its code comes from.

numba keys a cached function by its own file only; these tests edit a *dependency* in a temporary package
and run a fresh process each time, as a user editing sadbench's source would.
"""

import os
import subprocess
import sys
import textwrap

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
    from sadbench.model import blocks, gradient, layout
    from sadbench.model.vmath import bits, exponential

    files = source_files(gradient.loss_grad_pass)
    assert {gradient.__file__, layout.__file__, blocks.__file__} <= files
    from sadbench_plugins import losses

    assert {exponential.__file__, bits.__file__} <= source_files(losses.exponential)
