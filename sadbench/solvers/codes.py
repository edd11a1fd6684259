"""The driver's arrays and status codes, shared by every backend and by the host.

A member's state vector, the settings vector all members share, the observables saved at each save time,
and the status codes a run ends with (scipy/diffrax style: codes in the kernel, messages on the host).
``WALL_TIME`` and ``DETECTOR`` are set by the host between chunks.
"""

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
