"""Save schedules: the times at which the observables are recorded (and hit exactly by the integrator)."""

import numpy as np

from sadbench.errors import SadbenchError

#: Most save times one schedule may generate (each costs a row of observables per member).
MAX_SAVE_TIMES = 1_000_000


def save_times(save, t_end, per_decade=10, t_first=None, dt=None, t0=0.0):
    """Strictly increasing save times from t0 to t_end, both included.

    ``save`` is "log" (``per_decade`` points per decade from ``t_first``, default 1e-2, to ``t_end``),
    "linear" (``per_decade`` points in all) or an explicit array. With a fixed step ``dt``, generated
    times are rounded up to multiples of dt so the grid is not disturbed (those that pass t_end are left out: the
    step that reaches t_end is shortened); explicit times are kept exactly.
    """
    t_end = float(t_end)
    if not t_end > t0:
        raise SadbenchError(f"t_end must be greater than the start time {t0}, got {t_end}")
    if isinstance(save, str):
        if save not in ("log", "linear"):
            raise SadbenchError(f"unknown save schedule {save!r}; valid: 'log', 'linear' or an array of times")
        start = min(t_first if t_first is not None else 1e-2, t_end)
        count = int(round(max(np.log10(t_end / start), 0.0) * per_decade)) + 1 if save == "log" else int(per_decade)
        if count > MAX_SAVE_TIMES:
            raise SadbenchError(f"the {save} save schedule to t_end {t_end:g} with per_decade {per_decade} has "
                                f"{count} times; at most {MAX_SAVE_TIMES}")
        if save == "log":
            times = np.geomspace(start, t_end, count)
        else:
            times = np.linspace(t0, t_end, count + 1)[1:]
        times[-1] = t_end
        if dt is not None:  # rounded up, a time may pass t_end: the last step is shortened to end there instead
            times = np.ceil(times / dt - 1e-9) * dt
            times = times[times < t_end * (1.0 - 1e-12)]
    else:
        times = np.asarray(save, dtype=np.float64).ravel()
        if times.size == 0 or np.any(np.diff(times) <= 0) or times[0] < t0:
            raise SadbenchError(f"save times must be strictly increasing and start at or after {t0}")
        if times[-1] > t_end:
            raise SadbenchError(f"the last save time {times[-1]} is after t_end {t_end}")
    return np.unique(np.concatenate([[t0], times[times > t0], [t_end]]))
