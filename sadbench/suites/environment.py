"""Where and with what a run was computed: versions, git commit, CPU, GPU and clock, recorded with each run.

This is provenance for *reading* results (which commit, which machine, which numba), not for reusing them:
the result key (:func:`sadbench.suites.provenance.result_key`) holds only what changes the numbers a case
computes, so a new commit of the same version reuses stored results, and the commit that computed each
one is found in the run it belongs to.
"""

import importlib.metadata
import os
import platform
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

from sadbench import __version__
from sadbench.plugins import ENTRY_POINT_GROUP

#: The libraries whose versions decide how fast and how exactly a case computes.
LIBRARIES = ("numpy", "numba", "scipy", "llvmlite", "pluggy", "numba-cuda")
_GIT_TIMEOUT_S = 10


def _git(root, *args):
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=_GIT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_state(root=None):
    """``{"commit", "dirty", "describe"}`` of the git checkout sadbench is imported from (an editable
    install), or ``{}`` when it is not in one (a wheel). ``dirty`` ignores untracked files."""
    root = Path(root) if root is not None else Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return {}
    commit = _git(root, "rev-parse", "HEAD")
    if commit is None:
        return {}
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status), "describe": _git(root, "describe", "--always", "--dirty")}


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def plugin_distributions():
    """``{distribution: version}`` of every installed package that provides sadbench plugins."""
    found = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.dist is not None:
            found[ep.dist.name] = ep.dist.version
    return dict(sorted(found.items()))


def cpu_model():
    """The CPU's marketing name (Linux /proc/cpuinfo, else :func:`platform.processor`)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu():
    """The CUDA device a cuda-backend run uses (name, compute capability), or None without one."""
    try:
        from sadbench import cuda

        cuda.require()
        device = cuda.cuda.get_current_device()
        name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
        return {"name": name, "compute_capability": ".".join(map(str, device.compute_capability))}
    except Exception:  # no driver, no device, the simulator: nothing to record
        return None


@lru_cache(maxsize=None)
def _static():
    import numba

    return {
        "sadbench": __version__,
        "git": git_state(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        "plugins": plugin_distributions(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "cpu": {"model": cpu_model(), "cores": os.cpu_count(),
                "available": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
                "numba_threads": numba.config.NUMBA_NUM_THREADS},
        "executable": sys.executable,
    }


def environment(uses_gpu=False):
    """Everything above as a JSON-ready dict; ``uses_gpu`` adds the GPU (looked up only then, as it
    initialises the CUDA driver)."""
    env = dict(_static())
    env["gpu"] = gpu() if uses_gpu else None
    return env
