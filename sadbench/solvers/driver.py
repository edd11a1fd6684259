"""The compiled integration loop: every member of an ensemble on its own step size, in parallel.

The loop hits every save time exactly, records the observables there, enforces the terminal events
(non-finite state, ``stop_norm_above``, ``stop_grad_below``), and stops with a status code; it never raises.
All of a member's state lives in arrays passed in, so a call may end early (``CHUNK_END``,
``CHUNK_ATTEMPTS``) and the next call continues exactly where it stopped: the host runs long horizons in
chunks, checks the wall clock and the detectors between them, and can resume a stored run later.
"""

import math

from numba import njit, prange, types

from sadbench.solvers import control
from sadbench import signatures as sig
from sadbench.solvers.control import step_factor
from sadbench.solvers.jitcache import drop_if_stale

drop_if_stale(__file__, control)

# Status codes (scipy/diffrax style: codes in the kernel, messages on the host). WALL_TIME and DETECTOR
# are set by the host between chunks.
RUNNING, SUCCESS, MAX_STEPS, DT_MIN, NONFINITE, STOP_NORM, STOP_GRAD, WALL_TIME, DETECTOR = range(9)
STATUS_NAMES = {
    RUNNING: "running",
    SUCCESS: "success",
    MAX_STEPS: "max_steps",
    DT_MIN: "dt_min",
    NONFINITE: "nonfinite",
    STOP_NORM: "stop_norm",
    STOP_GRAD: "stop_grad",
    WALL_TIME: "wall_time",
    DETECTOR: "detector",
}
STATUS_MESSAGES = {
    "running": "integration has not reached the horizon yet",
    "success": "reached the final time",
    "max_steps": "step budget (max_steps) exhausted before the final time",
    "dt_min": "step size fell below dt_min or the rounding of t (stiffness, or a numerical failure)",
    "nonfinite": "the state, loss or gradient became non-finite",
    "stop_norm": "||θ|| exceeded the norm threshold (terminal event)",
    "stop_grad": "||∇L|| fell below the critical-point tolerance (terminal event)",
    "wall_time": "wall-time budget (max_wall) used up before the final time; resumable",
    "detector": "a detector's stop(trace) ended the run (it had decided)",
}
#: Statuses after which a member may be continued (``sadbench.resume``); the others are terminal.
RESUMABLE = (RUNNING, SUCCESS, MAX_STEPS, WALL_TIME)

# Member state vector. STEP_BASE is the step count when the current call began (max_steps is per call).
T, H, ERR_PREV, N_STEPS, N_REJECTED, N_GRAD, STATUS, N_SAVED, LOSS, REJECTED_LAST, STEP_BASE = range(11)
STATE_SIZE = 11

# Settings vector (shared by all members). CONTROL: 0 = the driver's PI controller on the returned error,
# 1 = the method proposes its next step in work[0]. CHUNK_END / CHUNK_ATTEMPTS bound one call.
RTOL, ATOL, DT_MIN_, DT_MAX, MAX_STEPS_, FIXED_DT, STOP_NORM_ABOVE, STOP_GRAD_BELOW = range(8)
SAFETY, FACTOR_MIN, FACTOR_MAX, ERROR_ORDER, ORDER, CONTROL, CHUNK_END, CHUNK_ATTEMPTS = range(8, 16)
SETTINGS_SIZE = 16

# Observables recorded at each save time.
Q_LOSS, Q_NORM, Q_GRAD_NORM, Q_ALIGN, Q_DIR_COS, Q_N_GRAD, Q_N_STEPS = range(7)
OBSERVABLES = ("loss", "norm", "grad_norm", "align", "dir_cos", "n_grad", "n_steps")


@njit(cache=True)
def _norm(v):
    s = 0.0
    for x in v:
        s += x * x
    return math.sqrt(s)


@njit(cache=True)
def _dot(u, v):
    s = 0.0
    for i in range(u.size):
        s += u[i] * v[i]
    return s


@njit(cache=True)
def _record(out, snaps, k, loss, y, f, anchor, state):
    norm, grad_norm = _norm(y), _norm(f)
    out[k, Q_LOSS] = loss
    out[k, Q_NORM] = norm
    out[k, Q_GRAD_NORM] = grad_norm
    out[k, Q_ALIGN] = _dot(y, f) / (norm * grad_norm) if norm > 0.0 and grad_norm > 0.0 else math.nan
    anchor_norm = _norm(anchor)
    out[k, Q_DIR_COS] = _dot(y, anchor) / (norm * anchor_norm) if norm > 0.0 and anchor_norm > 0.0 else math.nan
    anchor[:] = y
    out[k, Q_N_GRAD] = state[N_GRAD]
    out[k, Q_N_STEPS] = state[N_STEPS]
    if snaps.shape[0] > 0:
        snaps[k, :] = y


@njit(types.float64(sig.FUNCTIONS, sig.PROBLEM, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR),
      cache=True)
def initial_step(functions, prob, y, f, y1, f1, settings):
    """Hairer–Nørsett–Wanner's starting step (scipy's ``select_initial_step``); ``y1``, ``f1`` are scratch."""
    rtol, atol, order = settings[RTOL], settings[ATOL], settings[ORDER]
    P = y.size
    d0 = 0.0
    d1 = 0.0
    for p in range(P):
        sc = atol + rtol * abs(y[p])
        d0 += (y[p] / sc) ** 2
        d1 += (f[p] / sc) ** 2
    d0, d1 = math.sqrt(d0 / P), math.sqrt(d1 / P)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    for p in range(P):
        y1[p] = y[p] + h0 * f[p]
    functions[0](prob, y1, f1)
    d2 = 0.0
    for p in range(P):
        sc = atol + rtol * abs(y[p])
        d2 += ((f1[p] - f[p]) / sc) ** 2
    d2 = math.sqrt(d2 / P) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / (order + 1.0))
    return min(100.0 * h0, h1)


MEMBER = types.void(
    sig.FUNCTIONS, types.FunctionType(sig.ATTEMPT), sig.PROBLEM, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR,
    sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.MATRIX, sig.MATRIX,
)


@njit(MEMBER, cache=True)
def integrate_member(functions, attempt, prob, params, y, f, anchor, work, save_t, settings, state, out, snaps):
    """Integrate one member from its state towards save time ``CHUNK_END``, or until it stops.

    ``work`` is ``[y_new (P), f_new (P), the method's own work]``; ``snaps`` is (S, P) to save θ at each save
    time, or (0, 0) not to.
    """
    P = y.size
    y_new = work[:P]
    f_new = work[P : 2 * P]
    scratch = work[2 * P :]
    adaptive = settings[ERROR_ORDER] > 0.0
    method_control = settings[CONTROL] > 0.0
    rtol, atol = settings[RTOL], settings[ATOL]
    factor_min, factor_max = settings[FACTOR_MIN], settings[FACTOR_MAX]
    if state[N_GRAD] == 0.0:
        state[LOSS] = functions[0](prob, y, f)
        state[N_GRAD] = 1.0
        if not (math.isfinite(state[LOSS]) and math.isfinite(_norm(f))):
            state[STATUS] = NONFINITE
            return
    if state[H] <= 0.0:
        if adaptive:
            state[H] = min(initial_step(functions, prob, y, f, y_new, f_new, settings), settings[DT_MAX])
            state[N_GRAD] += 1.0
        else:
            state[H] = settings[FIXED_DT]
    k = int(state[N_SAVED])
    S = save_t.size
    k_end = min(S, int(settings[CHUNK_END]))
    t = state[T]
    h = state[H]
    while k < S and save_t[k] <= t:
        _record(out, snaps, k, state[LOSS], y, f, anchor, state)
        k += 1
    attempts = 0.0
    while k < k_end and attempts < settings[CHUNK_ATTEMPTS]:
        if state[N_STEPS] + state[N_REJECTED] - state[STEP_BASE] >= settings[MAX_STEPS_]:
            state[STATUS] = MAX_STEPS
            break
        attempts += 1.0
        remaining = save_t[k] - t
        hit = h >= remaining * (1.0 - 1e-12)
        h_try = remaining if hit else h
        err, n_grad, loss_new = attempt(functions, prob, params, t, y, f, h_try, y_new, f_new, scratch, rtol, atol)
        state[N_GRAD] += n_grad
        finite = math.isfinite(loss_new) and math.isfinite(err)
        if adaptive:
            accepted = finite and err <= 1.0
            if method_control:
                proposal = scratch[0]
                if not (proposal > 0.0 and math.isfinite(proposal)):
                    proposal = h_try * factor_min
                factor = min(max(proposal / h_try, factor_min), factor_max if accepted else 1.0)
            else:
                fmax = 1.0 if state[REJECTED_LAST] > 0.0 else factor_max
                factor = step_factor(err if finite else math.nan, state[ERR_PREV], settings[ERROR_ORDER],
                                     settings[SAFETY], factor_min, fmax)
            if not accepted:
                state[N_REJECTED] += 1.0
                h = h_try * factor
                state[REJECTED_LAST] = 1.0
                if h < settings[DT_MIN_] or h <= max(1e-14 * abs(t), 1e-300):
                    state[STATUS] = DT_MIN
                    break
                continue
            h_next = h_try * factor
            h = max(h, h_next) if hit and h_try < h else h_next
            h = min(h, settings[DT_MAX])
            state[ERR_PREV] = max(err, 1e-4)
            state[REJECTED_LAST] = 0.0
        elif not finite:
            state[STATUS] = NONFINITE
            break
        t = save_t[k] if hit else t + h_try
        y[:] = y_new
        f[:] = f_new
        state[LOSS] = loss_new
        state[N_STEPS] += 1.0
        if not math.isfinite(_norm(f)):
            state[STATUS] = NONFINITE
            break
        if hit:
            state[T] = t
            _record(out, snaps, k, loss_new, y, f, anchor, state)
            k += 1
        if _norm(y) > settings[STOP_NORM_ABOVE]:
            state[STATUS] = STOP_NORM
            break
        if _norm(f) < settings[STOP_GRAD_BELOW]:
            state[STATUS] = STOP_GRAD
            break
    state[T] = t
    state[H] = h
    state[N_SAVED] = k
    if state[STATUS] == RUNNING and k == S:
        state[STATUS] = SUCCESS


ENSEMBLE = types.void(
    sig.FUNCTIONS, types.FunctionType(sig.ATTEMPT), sig.MATRIX, sig.MATRIX, types.int64[::1], types.int64,
    sig.MATRIX, sig.VECTOR, sig.MATRIX, sig.MATRIX, sig.MATRIX, sig.MATRIX, sig.VECTOR, sig.VECTOR, sig.MATRIX,
    types.float64[:, :, ::1], types.float64[:, :, ::1],
)


@njit(ENSEMBLE, parallel=True, cache=True)
def integrate_ensemble(functions, attempt, X, Y, widths, bias, work, params, thetas, grads, anchors,
                       method_work, save_t, settings, states, out, snapshots):
    """Every member still running, spread over threads; each keeps its own step size."""
    for e in prange(thetas.shape[0]):
        if states[e, STATUS] == RUNNING:
            prob = (X, Y, widths, bias, work[e])
            integrate_member(functions, attempt, prob, params, thetas[e], grads[e], anchors[e], method_work[e],
                             save_t, settings, states[e], out[e], snapshots[e])


@njit(ENSEMBLE, cache=True)
def integrate_serial(functions, attempt, X, Y, widths, bias, work, params, thetas, grads, anchors,
                     method_work, save_t, settings, states, out, snapshots):
    """The same on one thread: a call of the parallel loop costs milliseconds to hand its first-class
    function arguments to the threads, which for a single member can exceed the integration itself."""
    for e in range(thetas.shape[0]):
        if states[e, STATUS] == RUNNING:
            prob = (X, Y, widths, bias, work[e])
            integrate_member(functions, attempt, prob, params, thetas[e], grads[e], anchors[e], method_work[e],
                             save_t, settings, states[e], out[e], snapshots[e])
