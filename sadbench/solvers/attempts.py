"""Bookkeeping shared by methods that keep state between attempts (Rosenbrock-W, BDF, RKC, auto).

Each such method starts its ``work`` with the same three entries: the proposed next step (read by the
driver under ``step_control="method"``), the time of the last attempt, and whether it has started. The
driver calls ``attempt`` again at the same t exactly when the previous attempt was rejected, so comparing
t with the stored time tells the method what became of its last step: no extra contract needed.
"""

from sadbench.jit import compiled

PROPOSAL, T_LAST, STARTED = 0, 1, 2
HEADER = 3

FIRST, ACCEPTED, REJECTED = 0, 1, 2


@compiled()
def begin(work, t):
    """Record an attempt at t; return FIRST, ACCEPTED (the previous step was taken) or REJECTED."""
    if work[STARTED] == 0.0:
        outcome = FIRST
    elif t == work[T_LAST]:
        outcome = REJECTED
    else:
        outcome = ACCEPTED
    work[STARTED] = 1.0
    work[T_LAST] = t
    return outcome
