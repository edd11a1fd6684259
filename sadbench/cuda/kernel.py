"""The CUDA integration kernel: the CPU driver's loop for explicit Runge–Kutta ensembles, one kernel per
activation × loss × architecture × number of points × layout.

Every decision about a step (which step to try, accept or reject, the next step size, the starting step,
the step budget, the terminal events) is made by the functions of :mod:`sadbench.solvers.control` that the
CPU driver calls, compiled as device functions (:func:`~sadbench.cuda.translate.shared_function`); what is
CUDA's own here is where the numbers live (a member's state in registers, its vectors in the work array)
and how its threads share the vector work.
"""

import math
from functools import lru_cache

import numpy as np

from sadbench.cuda.device import cuda
from sadbench.cuda.geometry import RA, RF, RK, RS, RY, RYN, RFN, Geometry
from sadbench.cuda.gradient import build_rhs
from sadbench.cuda.primitives import primitives
from sadbench.cuda.translate import cacheable, device_function, shared_function
from sadbench.jit import source_digest
from sadbench.solvers import control
from sadbench.solvers.codes import (
    ATOL, CHUNK_ATTEMPTS, CHUNK_END, ERR_PREV, ERROR_ORDER, FIXED_DT, H, LOSS, MAX_STEPS, N_GRAD, N_REJECTED, N_SAVED,
    N_STEPS, NONFINITE, Q_ALIGN, Q_DIR_COS, Q_GRAD_NORM, Q_LOSS, Q_N_GRAD, Q_N_STEPS, Q_NORM, REJECTED_LAST, RTOL,
    RUNNING, STATUS, STEP_BASE, SUCCESS,
)
from sadbench.solvers.codes import T as T_  # the state column of t (``T`` is the threads per member below)
from sadbench.verdicts import observables

#: The step logic and the observables the kernel shares with the CPU driver.
SHARED = (control.trial_step, control.starting_step, control.out_of_steps, control.next_attempt,
          control.judge_attempt, control.terminal_event, observables.cosine)


@lru_cache(maxsize=None)
def build_kernel(f, df, value, d1, widths, bias, n_points, layout, threads, chunk, names):
    """The integration kernel of one activation × loss × architecture × number of points × layout, and the
    architecture's :class:`~sadbench.cuda.geometry.Geometry`."""
    act_name, loss_name = names
    dev_f = device_function(f, f"activation {act_name!r} (f)", 1)
    dev_df = device_function(df, f"activation {act_name!r} (df)", 1)
    dev_value = device_function(value, f"loss {loss_name!r} (value)", 2)
    dev_d1 = device_function(d1, f"loss {loss_name!r} (d1)", 2)
    trial_step, starting_step, out_of_steps, next_attempt, judge_attempt, terminal_event, cosine = map(
        shared_function, SHARED)
    g = Geometry(widths, bias)
    BLOCK = layout == "block"
    T = threads if BLOCK else 1  # threads working on one member
    CP = chunk if BLOCK else 1  # points per chunk
    STRIDE = CP + 1  # the chunk buffer's row length (a constant: shared arrays need one)
    P, ROWS = g.n_params, g.rows
    INV_P = 1.0 / P
    prims = primitives(BLOCK, T, P)
    ix, sync, block_sum, dot, norm, copy = prims
    rhs = build_rhs(g, n_points, CP, T, prims, dev_f, dev_df, dev_value, dev_d1)

    @cuda.jit(device=True)
    def attempt(W, e, E, X, Y, tid, buf, red, tab, h, rtol, atol):
        """:func:`sadbench.solvers.rk.rk_attempt` on the member's rows: (err, gradients used, L(θ_new))."""
        s = int(tab[0])
        fsal, adaptive = tab[1] > 0.0, tab[2] > 0.0
        ob, oe = 3 + s * s, 3 + s * s + s
        copy(W, RK, RF, e, E, tid)
        n_grad = 0.0
        last = s - 1 if fsal else s
        for i in range(1, last):
            for p in range(tid, P, T):
                v = W[ix(RY, p, e, E)]
                for j in range(i):
                    coef = h * tab[3 + i * s + j]
                    if coef != 0.0:
                        v += coef * W[ix(RK + j, p, e, E)]
                W[ix(RS, p, e, E)] = v
            sync()
            rhs(W, RS, RK + i, e, E, X, Y, tid, buf, red)
            n_grad += 1.0
        for p in range(tid, P, T):
            v = W[ix(RY, p, e, E)]
            for j in range(last):
                coef = h * tab[ob + j]
                if coef != 0.0:
                    v += coef * W[ix(RK + j, p, e, E)]
            W[ix(RYN, p, e, E)] = v
        sync()
        loss_new = rhs(W, RYN, RFN, e, E, X, Y, tid, buf, red)
        n_grad += 1.0
        if not adaptive:
            return 0.0, n_grad, loss_new
        if fsal:
            copy(W, RK + s - 1, RFN, e, E, tid)
        err = 0.0
        for p in range(tid, P, T):
            est = 0.0
            for j in range(s):
                est += tab[oe + j] * W[ix(RK + j, p, e, E)]
            y0, y1 = W[ix(RY, p, e, E)], W[ix(RYN, p, e, E)]
            ratio = h * est / (atol + rtol * max(abs(y0), abs(y1)))
            err += ratio * ratio
        return math.sqrt(block_sum(err, tid, red) * INV_P), n_grad, loss_new

    @cuda.jit(device=True)
    def initial_step(W, e, E, X, Y, tid, buf, red, settings):
        """:func:`sadbench.solvers.driver.initial_step`'s norms over the member's threads, θ_new and ∇L(θ_new)
        as scratch; the step itself from :mod:`sadbench.solvers.control`."""
        rtol, atol = settings[RTOL], settings[ATOL]
        d0 = 0.0
        d1 = 0.0
        for p in range(tid, P, T):
            y = W[ix(RY, p, e, E)]
            sc = atol + rtol * abs(y)
            d0 += (y / sc) ** 2
            d1 += (W[ix(RF, p, e, E)] / sc) ** 2
        d0 = math.sqrt(block_sum(d0, tid, red) * INV_P)
        d1 = math.sqrt(block_sum(d1, tid, red) * INV_P)
        h0 = trial_step(d0, d1)
        for p in range(tid, P, T):
            W[ix(RYN, p, e, E)] = W[ix(RY, p, e, E)] + h0 * W[ix(RF, p, e, E)]
        sync()
        rhs(W, RYN, RFN, e, E, X, Y, tid, buf, red)
        d2 = 0.0
        for p in range(tid, P, T):
            sc = atol + rtol * abs(W[ix(RY, p, e, E)])
            d2 += ((W[ix(RFN, p, e, E)] - W[ix(RF, p, e, E)]) / sc) ** 2
        return starting_step(h0, d1, math.sqrt(block_sum(d2, tid, red) * INV_P) / h0, settings)

    @cuda.jit(device=True)
    def record(W, e, E, tid, red, out, snaps, k, loss, n_grad, n_steps):
        """:func:`sadbench.solvers.driver._record`: the observables at save point k (norms as reductions over the
        member's threads), then the anchor := θ."""
        nrm, gnorm = norm(W, RY, e, E, tid, red), norm(W, RF, e, E, tid, red)
        anorm = norm(W, RA, e, E, tid, red)
        y_f, y_a = dot(W, RY, RF, e, E, tid, red), dot(W, RY, RA, e, E, tid, red)
        align, dcos = cosine(y_f, nrm, gnorm), cosine(y_a, nrm, anorm)
        if tid == 0:
            out[e, k, Q_LOSS] = loss
            out[e, k, Q_NORM] = nrm
            out[e, k, Q_GRAD_NORM] = gnorm
            out[e, k, Q_ALIGN] = align
            out[e, k, Q_DIR_COS] = dcos
            out[e, k, Q_N_GRAD] = n_grad
            out[e, k, Q_N_STEPS] = n_steps
        sync()
        copy(W, RA, RY, e, E, tid)
        if snaps.shape[1] > 0:
            for p in range(tid, P, T):
                snaps[e, k, p] = W[ix(RY, p, e, E)]

    @cuda.jit(device=True)
    def member(e, E, tid, W, X, Y, tab, save_t, settings, states, out, snaps, buf, red):
        """:func:`sadbench.solvers.driver.integrate_member` for member e; the state lives in registers until
        the end."""
        t, h, err_prev = states[e, T_], states[e, H], states[e, ERR_PREV]
        n_steps, n_rej, n_grad = states[e, N_STEPS], states[e, N_REJECTED], states[e, N_GRAD]
        status, k, loss = int(states[e, STATUS]), int(states[e, N_SAVED]), states[e, LOSS]
        rej_last, step_base = states[e, REJECTED_LAST], states[e, STEP_BASE]
        sync()
        S = save_t.size
        done = False
        if n_grad == 0.0:
            loss = rhs(W, RY, RF, e, E, X, Y, tid, buf, red)
            n_grad = 1.0
            if not (math.isfinite(loss) and math.isfinite(norm(W, RF, e, E, tid, red))):
                status = NONFINITE
                done = True
        if not done and h <= 0.0:
            if settings[ERROR_ORDER] > 0.0:
                h = initial_step(W, e, E, X, Y, tid, buf, red, settings)
                n_grad += 1.0
            else:
                h = settings[FIXED_DT]
        if not done:
            k_end = min(S, int(settings[CHUNK_END]))
            while k < S and save_t[k] <= t:
                record(W, e, E, tid, red, out, snaps, k, loss, n_grad, n_steps)
                k += 1
            attempts = 0.0
            while k < k_end and attempts < settings[CHUNK_ATTEMPTS]:
                if out_of_steps(n_steps, n_rej, step_base, settings):
                    status = MAX_STEPS
                    break
                attempts += 1.0
                h_try, hit, t_new = next_attempt(t, h, save_t[k])
                err, used, loss_new = attempt(W, e, E, X, Y, tid, buf, red, tab, h_try, settings[RTOL],
                                              settings[ATOL])
                n_grad += used
                rejected, verdict, h, err_prev, rej_last = judge_attempt(err, loss_new, h, h_try, hit, t, err_prev,
                                                                         rej_last, 0.0, settings)
                if rejected:
                    n_rej += 1.0
                if verdict != RUNNING:
                    status = verdict
                    break
                if rejected:
                    continue
                t = t_new
                copy(W, RY, RYN, e, E, tid)
                copy(W, RF, RFN, e, E, tid)
                loss = loss_new
                n_steps += 1.0
                grad_norm = norm(W, RF, e, E, tid, red)
                if not math.isfinite(grad_norm):
                    status = NONFINITE
                    break
                if hit:
                    record(W, e, E, tid, red, out, snaps, k, loss, n_grad, n_steps)
                    k += 1
                verdict = terminal_event(norm(W, RY, e, E, tid, red), grad_norm, settings)
                if verdict != RUNNING:
                    status = verdict
                    break
            if status == RUNNING and k == S:
                status = SUCCESS
        if tid == 0:
            states[e, T_], states[e, H], states[e, ERR_PREV] = t, h, err_prev
            states[e, N_STEPS], states[e, N_REJECTED], states[e, N_GRAD] = n_steps, n_rej, n_grad
            states[e, STATUS], states[e, N_SAVED], states[e, LOSS] = status, k, loss
            states[e, REJECTED_LAST] = rej_last

    # Kernels are cached on disk (numba-cuda's cache, keyed by the kernel's code and closure): on an H100
    # host the first call at E = 1024 took 17.2 s, the same call in a new process 2.8 s. SOURCES, read in
    # the kernel so that it is part of the closure, adds the sources the closure misses to the key: modules
    # a plugin function reaches by attribute, and the shared step logic with the constants it imports.
    SOURCES = source_digest(f, df, value, d1, *SHARED)
    cache = cacheable(dev_f, dev_df, dev_value, dev_d1)

    if BLOCK:
        @cuda.jit(cache=cache)
        def kernel(W, X, Y, tab, save_t, settings, states, out, snaps):
            if SOURCES < 0:  # never: the digest is non-negative
                return
            e = cuda.blockIdx.x
            tid = cuda.threadIdx.x
            buf = cuda.shared.array((ROWS, STRIDE), np.float64)
            red = cuda.shared.array(T, np.float64)
            if states[e, STATUS] == RUNNING:
                member(e, cuda.gridDim.x, tid, W[e], X, Y, tab, save_t, settings, states, out, snaps, buf, red)
    else:
        @cuda.jit(cache=cache)
        def kernel(W, X, Y, tab, save_t, settings, states, out, snaps):
            if SOURCES < 0:  # never: the digest is non-negative
                return
            e = cuda.grid(1)
            E = states.shape[0]
            buf = cuda.local.array((ROWS, 1), np.float64)
            red = cuda.local.array(1, np.float64)
            if e < E and states[e, STATUS] == RUNNING:
                member(e, E, 0, W, X, Y, tab, save_t, settings, states, out, snaps, buf, red)

    return kernel, g
