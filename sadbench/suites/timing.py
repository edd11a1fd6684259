"""Timing a case so the numbers can be trusted: compile time apart from run time, and repeats.

numba compiles a kernel the first time a process calls it (or loads it from its cache), inside the first
integration. :class:`CompileClock` listens to numba's ``numba:compile`` events and adds up the time spent
inside the outermost ones, so the compile seconds of a call can be taken out of its wall time. With
``repeat`` N > 1 a case runs once as a warm-up (its compile time is recorded) and N times timed, like
``timeit`` and asv: the stored statistics are over the timed runs only.
"""

import statistics
import threading
import time
from dataclasses import dataclass

from numba.core import event


class CompileClock(event.Listener):
    """Seconds spent compiling (outermost ``numba:compile`` events only: a kernel that compiles the
    functions it calls is counted once) while installed."""

    def __init__(self):
        self.seconds = 0.0
        self._depth = {}
        self._start = {}
        self._lock = threading.Lock()

    def on_start(self, ev):
        with self._lock:
            key = threading.get_ident()
            if self._depth.get(key, 0) == 0:
                self._start[key] = time.perf_counter()
            self._depth[key] = self._depth.get(key, 0) + 1

    def on_end(self, ev):
        with self._lock:
            key = threading.get_ident()
            self._depth[key] = self._depth.get(key, 1) - 1
            if self._depth[key] == 0:
                self.seconds += time.perf_counter() - self._start.pop(key)

    def __enter__(self):
        event.register("numba:compile", self)
        return self

    def __exit__(self, *exc):
        event.unregister("numba:compile", self)


@dataclass(frozen=True)
class Timing:
    """A case's timings: ``samples`` are the timed runs' wall seconds (compile time taken out), ``compile``
    the compile seconds of the first call, ``warmup`` whether a warm-up run came before the samples."""

    samples: tuple
    compile: float
    warmup: bool

    @property
    def median(self):
        return statistics.median(self.samples)

    @property
    def min(self):
        return min(self.samples)

    def as_dict(self):
        return {"wall_times": list(self.samples), "wall_time_min": self.min, "wall_time_median": self.median,
                "compile_time": self.compile, "repeat": len(self.samples), "warmup": self.warmup}


def _call(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def timed(fn, repeat=1):
    """Call ``fn()`` once (``repeat`` 1) or once plus ``repeat`` timed times; returns (last result,
    :class:`Timing`). A sample is the wall time of one whole call (network, data, integration, verdicts);
    the compile seconds of the first call are taken out of its sample when it is the only one."""
    with CompileClock() as clock:
        result, first = _call(fn)
    if repeat <= 1:
        return result, Timing((max(first - clock.seconds, 0.0),), clock.seconds, warmup=False)
    samples = []
    for _ in range(repeat):
        result, seconds = _call(fn)
        samples.append(seconds)
    return result, Timing(tuple(samples), clock.seconds, warmup=True)
