"""The compiled integration loop: every member of an ensemble on its own step size, members on threads.

The loop hits every save time exactly, records the observables there, enforces the terminal events
(non-finite state, ``stop_norm_above``, ``stop_grad_below``), and stops with a status code; it never raises.
All of a member's state lives in arrays passed in, so a call may end early (``CHUNK_END``,
``CHUNK_ATTEMPTS``) and the next call continues exactly where it stopped: the host runs long horizons in
chunks, checks the wall clock and the detectors between them, and can resume a stored run later.
"""

import math

from numba import types

from sadbench import signatures as sig
from sadbench.jit import compiled
from sadbench.solvers.codes import (  # noqa: F401  (the host reads the codes and layout as driver.*)
    ATOL, CHUNK_ATTEMPTS, CHUNK_END, CONTROL, DETECTOR, DT_MAX, DT_MIN, DT_MIN_, ERR_PREV, ERROR_ORDER, FACTOR_MAX,
    FACTOR_MIN, FIXED_DT, H, LOSS, MAX_STEPS, MAX_STEPS_, N_GRAD, N_REJECTED, N_SAVED, N_STEPS, NONFINITE,
    OBSERVABLES, ORDER, Q_ALIGN, Q_DIR_COS, Q_GRAD_NORM, Q_LOSS, Q_N_GRAD, Q_N_STEPS, Q_NORM, REJECTED_LAST,
    RESUMABLE, RTOL, RUNNING, SAFETY, SETTINGS_SIZE, STATE_SIZE, STATUS, STATUS_MESSAGES, STATUS_NAMES, STEP_BASE,
    STOP_GRAD, STOP_GRAD_BELOW, STOP_NORM, STOP_NORM_ABOVE, SUCCESS, T, WALL_TIME,
)
from sadbench.solvers.control import (
    judge_attempt, next_attempt, out_of_steps, starting_step, terminal_event, trial_step,
)
from sadbench.solvers.vectors import copy, dot
from sadbench.verdicts.observables import cosine, norm


@compiled()
def _record(out, snaps, k, loss, y, f, anchor, state):
    """The observables at save point k (:mod:`sadbench.verdicts.observables`), then the anchor := θ."""
    theta_norm, grad_norm = norm(y), norm(f)
    out[k, Q_LOSS] = loss
    out[k, Q_NORM] = theta_norm
    out[k, Q_GRAD_NORM] = grad_norm
    out[k, Q_ALIGN] = cosine(dot(y, f), theta_norm, grad_norm)
    out[k, Q_DIR_COS] = cosine(dot(y, anchor), theta_norm, norm(anchor))
    copy(anchor, y)
    out[k, Q_N_GRAD] = state[N_GRAD]
    out[k, Q_N_STEPS] = state[N_STEPS]
    if snaps.shape[0] > 0:
        copy(snaps[k], y)


@compiled(types.float64(sig.FUNCTIONS, sig.PROBLEM, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR))
def initial_step(functions, prob, y, f, y1, f1, settings):
    """Hairer–Nørsett–Wanner's starting step (scipy's ``select_initial_step``); ``y1``, ``f1`` are scratch."""
    rtol, atol = settings[RTOL], settings[ATOL]
    P = y.size
    d0 = 0.0
    d1 = 0.0
    for p in range(P):
        sc = atol + rtol * abs(y[p])
        d0 += (y[p] / sc) ** 2
        d1 += (f[p] / sc) ** 2
    d0, d1 = math.sqrt(d0 / P), math.sqrt(d1 / P)
    h0 = trial_step(d0, d1)
    for p in range(P):
        y1[p] = y[p] + h0 * f[p]
    functions[0](prob, y1, f1)
    d2 = 0.0
    for p in range(P):
        sc = atol + rtol * abs(y[p])
        d2 += ((f1[p] - f[p]) / sc) ** 2
    return starting_step(h0, d1, math.sqrt(d2 / P) / h0, settings)


MEMBER = types.void(
    sig.FUNCTIONS, types.FunctionType(sig.ATTEMPT), sig.PROBLEM, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR,
    sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.VECTOR, sig.MATRIX, sig.MATRIX,
)


@compiled(MEMBER)
def integrate_member(functions, attempt, prob, params, y, f, anchor, work, save_t, settings, state, out, snaps):
    """Integrate one member from its state towards save time ``CHUNK_END``, or until it stops; the step
    decisions are :mod:`sadbench.solvers.control`'s, which the CUDA kernels share.

    ``work`` is ``[y_new (P), f_new (P), the method's own work]``; ``snaps`` is (S, P) to save θ at each save
    time, or (0, 0) not to.
    """
    P = y.size
    y_new = work[:P]
    f_new = work[P : 2 * P]
    scratch = work[2 * P :]
    if state[N_GRAD] == 0.0:
        state[LOSS] = functions[0](prob, y, f)
        state[N_GRAD] = 1.0
        if not (math.isfinite(state[LOSS]) and math.isfinite(norm(f))):
            state[STATUS] = NONFINITE
            return
    if state[H] <= 0.0:
        if settings[ERROR_ORDER] > 0.0:
            state[H] = initial_step(functions, prob, y, f, y_new, f_new, settings)
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
        if out_of_steps(state[N_STEPS], state[N_REJECTED], state[STEP_BASE], settings):
            state[STATUS] = MAX_STEPS
            break
        attempts += 1.0
        h_try, hit, t_new = next_attempt(t, h, save_t[k])
        err, n_grad, loss_new = attempt(functions, prob, params, t, y, f, h_try, y_new, f_new, scratch,
                                        settings[RTOL], settings[ATOL])
        state[N_GRAD] += n_grad
        proposal = scratch[0] if scratch.size > 0 else 0.0  # read only by methods that set CONTROL
        rejected, status, h, state[ERR_PREV], state[REJECTED_LAST] = judge_attempt(
            err, loss_new, h, h_try, hit, t, state[ERR_PREV], state[REJECTED_LAST], proposal, settings)
        if rejected:
            state[N_REJECTED] += 1.0
        if status != RUNNING:
            state[STATUS] = status
            break
        if rejected:
            continue
        t = t_new
        copy(y, y_new)
        copy(f, f_new)
        state[LOSS] = loss_new
        state[N_STEPS] += 1.0
        grad_norm = norm(f)
        if not math.isfinite(grad_norm):
            state[STATUS] = NONFINITE
            break
        if hit:
            state[T] = t
            _record(out, snaps, k, loss_new, y, f, anchor, state)
            k += 1
        status = terminal_event(norm(y), grad_norm, settings)
        if status != RUNNING:
            state[STATUS] = status
            break
    state[T] = t
    state[H] = h
    state[N_SAVED] = k
    if state[STATUS] == RUNNING and k == S:
        state[STATUS] = SUCCESS


MEMBERS = types.void(
    sig.FUNCTIONS, types.FunctionType(sig.ATTEMPT), sig.MATRIX, sig.MATRIX, types.int64[::1], types.int64,
    sig.MATRIX, sig.VECTOR, sig.MATRIX, sig.MATRIX, sig.MATRIX, sig.MATRIX, sig.VECTOR, sig.VECTOR, sig.MATRIX,
    types.float64[:, :, ::1], types.float64[:, :, ::1], types.int64, types.int64,
)


@compiled(MEMBERS, nogil=True)
def integrate_members(functions, attempt, X, Y, widths, bias, work, params, thetas, grads, anchors, method_work,
                      save_t, settings, states, out, snapshots, first, last):
    """Members ``first .. last - 1`` that are still running, one after the other; each keeps its own step size.
    It releases the GIL, so the host spreads an ensemble's members over threads
    (:func:`sadbench.jit.over_threads`): numba's ``parallel=True`` loop would cost seconds more to compile,
    and milliseconds per call to hand its first-class function arguments to the threads."""
    for e in range(first, last):
        if states[e, STATUS] == RUNNING:
            prob = (X, Y, widths, bias, work[e])
            integrate_member(functions, attempt, prob, params, thetas[e], grads[e], anchors[e], method_work[e],
                             save_t, settings, states[e], out[e], snapshots[e])
