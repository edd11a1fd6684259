"""Long runs: the resumable state of an integration, and the loop that runs the compiled driver in chunks.

Everything the driver needs to continue a member exactly (θ, ∇L, t, step size, controller state, the
method's work, the direction anchor, the saved series) is in :class:`RunState`, a set of numpy arrays. The
chunk loop calls the driver for at most one decade of save points and a bounded number of attempts at a
time, and between calls checks the wall clock (``max_wall``) and the detectors' optional
``stop(trace)`` hook. Because the state is complete, a chunked run, an interrupted-and-resumed run and one
uninterrupted call give the same numbers.
"""

import hashlib
import time
from dataclasses import MISSING, dataclass, fields

import numpy as np

from sadbench.solvers import driver
from sadbench.solvers.blas import one_blas_thread
from sadbench.errors import SadbenchError
from sadbench.jit import compile_elsewhere, over_threads

FORMAT = 1
_TARGET_CALL_SECONDS = 0.2  # wall time one driver call aims at: the granularity of max_wall and stop()
_FIRST_CALL_ATTEMPTS = 256


def data_digest(X, Y):
    """A short fingerprint of the data, so a stored run is only continued on the data it was run on."""
    return hashlib.sha256(np.ascontiguousarray(X).tobytes() + np.ascontiguousarray(Y).tobytes()).hexdigest()[:16]


@dataclass
class RunState:
    """The complete state of an ensemble integration; ``to_dict`` gives plain arrays for ``np.savez``."""

    integrator: str
    loss: str
    widths: np.ndarray
    activation: str
    bias: bool
    data: str  # data_digest(X, Y)
    single: bool
    schedule: str  # "log", "linear" or "explicit"
    per_decade: float
    t_first: float  # NaN: the schedule's default
    settings: np.ndarray  # the driver's settings vector: tolerances, step bounds, events
    times: np.ndarray  # (S,)
    out: np.ndarray  # (E, S, observables)
    snapshots: np.ndarray  # (E, S, P), or (E, 0, 0) without save_theta
    theta0: np.ndarray  # (E, P) initial parameters
    thetas: np.ndarray  # (E, P) current parameters
    grads: np.ndarray  # (E, P) current -∇L
    anchors: np.ndarray  # (E, P) θ at the previous save time (direction cosine)
    method_work: np.ndarray  # (E, 2P + work_size(P))
    states: np.ndarray  # (E, driver.STATE_SIZE)
    precision: str = "float64"  # of the gradient passes (sadbench.model.precision.PRECISIONS)

    def to_dict(self):
        """Plain numpy values (strings as 0-d arrays), for ``np.savez(path, **state)``."""
        out = {"format": np.array(FORMAT)}
        for f in fields(self):
            out[f.name] = np.asarray(getattr(self, f.name))
        return out

    @classmethod
    def from_dict(cls, d):
        """The state from :meth:`to_dict`'s dict, or from ``np.load`` of a file saved from it (a field with a
        default may be missing: a state stored before the field existed)."""
        if int(np.asarray(d.get("format", -1))) != FORMAT:
            raise SadbenchError(f"not a sadbench resume state (format {FORMAT}); keys: {sorted(d)}")
        values = {}
        for f in fields(cls):
            if f.name not in d and f.default is not MISSING:
                continue
            value = np.asarray(d[f.name])
            if f.type in (str, "str"):
                value = str(value)
            elif f.type in (bool, "bool"):
                value = bool(value)
            elif f.type in (float, "float"):
                value = float(value)
            else:
                value = np.array(value)  # a writeable, contiguous copy
            values[f.name] = value
        return cls(**values)

    def check_matches(self, net, X, Y, loss):
        """Raise unless ``net``, the data and the loss are the ones this state was computed with."""
        mine = (tuple(int(w) for w in self.widths), self.activation, self.bias, self.loss)
        theirs = (tuple(net.widths), net.activation.name, net.bias, loss)
        if mine != theirs:
            raise SadbenchError(f"cannot resume: the stored run is (widths, activation, bias, loss) = {mine}, "
                                f"this one {theirs}")
        if data_digest(X, Y) != self.data:
            raise SadbenchError("cannot resume: X, Y differ from the data the stored run was integrated on")


def compile_ahead(*methods):
    """On a first run (nothing cached yet), compile the methods' steps and then the driver loop in a helper
    process while this one compiles the gradient (:func:`sadbench.jit.compile_elsewhere`); whichever process
    comes to the driver first compiles it, so a light step leaves it to the helper and a heavy one (BDF's)
    to this process."""
    compile_elsewhere(*(method.attempt for method in methods), driver.integrate_members)


def run_chunks(state, method, functions, X, Y, widths, bias, work, max_wall, stoppers, traces):
    """Advance every running member to the last save time on the CPU; returns the seconds spent."""

    def advance():
        over_threads(driver.integrate_members, state.thetas.shape[0], functions, method.attempt, X, Y, widths, bias,
                     work, method.params, state.thetas, state.grads, state.anchors, state.method_work, state.times,
                     state.settings, state.states, state.out, state.snapshots)

    start = time.perf_counter()
    with one_blas_thread():
        chunk_loop(state, advance, max_wall, stoppers, traces, start)
    return time.perf_counter() - start


def chunk_loop(state, advance, max_wall, stoppers, traces, start, fetch=None):
    """The host loop of every backend: call ``advance()`` (one compiled call or kernel launch, which runs the
    members to ``settings[CHUNK_END]`` within ``settings[CHUNK_ATTEMPTS]`` attempts) until no member runs.

    Chunks of one decade of save points serve the detectors: ``stoppers`` are the detector objects that have
    ``stop(trace)``, ``traces()`` returns a function ``e -> Trace`` over the current arrays (after ``fetch()``,
    which brings a device's series to the host), and members a detector stops get status ``detector``. A
    bounded number of attempts per call, adapted to take about _TARGET_CALL_SECONDS, serves the wall clock
    (counted from ``start``): when it is up, members still running get status ``wall_time``.
    """
    settings, states = state.settings, state.states
    per_chunk = max(1, int(round(state.per_decade))) if state.schedule == "log" else 10
    if not stoppers:
        per_chunk = state.times.size
    attempts = _FIRST_CALL_ATTEMPTS if np.isfinite(max_wall) else 1 << 62
    seen = states[:, driver.N_SAVED].copy()
    while True:
        running = states[:, driver.STATUS] == driver.RUNNING
        if not running.any():
            break
        if time.perf_counter() - start >= max_wall:
            states[running, driver.STATUS] = driver.WALL_TIME
            break
        settings[driver.CHUNK_END] = min(state.times.size, states[running, driver.N_SAVED].min() + per_chunk)
        settings[driver.CHUNK_ATTEMPTS] = attempts
        call_start = time.perf_counter()
        advance()
        seconds = time.perf_counter() - call_start
        if seconds < 0.5 * _TARGET_CALL_SECONDS:
            attempts = min(2 * attempts, 1 << 62)
        elif seconds > 2.0 * _TARGET_CALL_SECONDS:
            attempts = max(attempts // 2, 1)
        fresh = (states[:, driver.STATUS] == driver.RUNNING) & (states[:, driver.N_SAVED] > seen)
        if stoppers and fresh.any():
            if fetch is not None:
                fetch()
            trace_of = traces()
            for e in np.flatnonzero(fresh):
                seen[e] = states[e, driver.N_SAVED]
                if any(stopper.stop(trace_of(e)) for stopper in stoppers):
                    states[e, driver.STATUS] = driver.DETECTOR
