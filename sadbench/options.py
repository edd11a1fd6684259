"""The arguments of :func:`sadbench.integrate` that travel together, :class:`StepControl` and :class:`Save`,
and the checks of every argument at the API boundary.

The checks live here, in one place, so that ``integrate``, ``resume`` and the suite checker refuse the same
values with the same words: a bad value raises :class:`OptionError`, a :class:`~sadbench.errors.SadbenchError`
that names the argument and its allowed range (``safety must be a number in (0, 1], got 50``); the suite
checker turns its ``key`` into the file line that set the value.
"""

import difflib
import importlib.util
import math
import numbers
from dataclasses import dataclass, fields

import numpy as np

from sadbench.errors import SadbenchError

BACKENDS = ("cpu", "cuda")
SCHEDULES = ("log", "linear")


class OptionError(SadbenchError):
    """A bad argument: ``key`` names it, ``problem`` says what is wrong (``must be ..., got ...``)."""

    def __init__(self, key, problem):
        self.key, self.problem = key, problem
        super().__init__(f"{key} {problem}")


def _interval(low, high, low_open, high_open):
    if high is None:
        return f"> {low:g}" if low_open else f"≥ {low:g}"
    return f"in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def number(key, value, low=None, high=None, *, low_open=False, high_open=False, finite=True):
    """``value`` as a float if it is a real number in the interval (``finite``: not ±inf), else OptionError."""
    what = ("a finite number" if finite else "a number") + (
        "" if low is None else " " + _interval(low, high, low_open, high_open))
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise OptionError(key, f"must be {what}, got {value!r}")
    x = float(value)
    ok = not math.isnan(x) and (math.isfinite(x) or not finite)
    if ok and low is not None:
        ok = (x > low if low_open else x >= low) and (high is None or (x < high if high_open else x <= high))
    if not ok:
        raise OptionError(key, f"must be {what}, got {value!r}")
    return x


def integer(key, value, low=1):
    """``value`` as an int if it is a whole number ≥ ``low`` (an integral float such as 1e6 counts)."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, numbers.Real) and math.isfinite(value)
                                                   and float(value).is_integer())
    if isinstance(value, (bool, np.bool_)) or not whole or value < low:
        raise OptionError(key, f"must be a whole number ≥ {low}, got {value!r}")
    return int(value)


def choice(key, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise OptionError(key, f"must be one of {', '.join(map(repr, allowed))}, got {value!r}")
    return value


def tolerances(rtol, atol):
    """(rtol, atol): finite, rtol ≥ 0 and atol > 0. A component of θ at 0 (a bias, a unit that is off) is
    scaled by atol + rtol·0 in the error test, so atol = 0 would divide by zero there."""
    rtol, atol = number("rtol", rtol, 0.0), number("atol", atol, 0.0)
    if atol == 0.0:
        raise OptionError("atol", "must be > 0: the error test scales each component by atol + rtol·|θ_i|, which "
                                  "is 0 where θ_i = 0")
    return rtol, atol


def horizon(key, t_end):
    return number(key, t_end, 0.0, low_open=True)


def budgets(max_steps, max_wall):
    """(max_steps, max_wall): a positive whole number of step attempts, and seconds ≥ 0 (inf: no limit)."""
    return integer("max_steps", max_steps), number("max_wall", max_wall, 0.0, finite=False)


def backend(value):
    """``value`` if it is a backend that can be used here; ``cuda`` needs numba-cuda installed."""
    choice("backend", value, BACKENDS)
    if value == "cuda" and importlib.util.find_spec("numba_cuda") is None:
        raise OptionError("backend", "'cuda' needs numba-cuda, which is not installed: pip install \"sadbench[cuda]\"")
    return value


@dataclass(frozen=True)
class StepControl:
    """How an adaptive integrator chooses its steps (fixed-step integrators ignore it).

    A step is accepted when its error estimate, scaled by ``atol + rtol·|θ|``, is at most 1; the next step is
    the last one times a factor from the PI controller, ``safety`` times the ideal one, clipped to
    ``[factor_min, factor_max]`` and to ``[dt_min, dt_max]``. A step that would fall below ``dt_min`` ends
    the member with status "dt_min". Checked on creation: ``0 ≤ dt_min ≤ dt_max``, ``0 < safety ≤ 1``,
    ``0 < factor_min < 1 < factor_max``.
    """

    dt_min: float = 0.0
    dt_max: float = math.inf
    safety: float = 0.9
    factor_min: float = 0.2
    factor_max: float = 10.0

    def __post_init__(self):
        set_ = object.__setattr__.__get__(self)
        set_("dt_min", number("dt_min", self.dt_min, 0.0))
        set_("dt_max", number("dt_max", self.dt_max, 0.0, low_open=True, finite=False))
        if self.dt_min > self.dt_max:
            raise OptionError("dt_min", f"must be ≤ dt_max = {self.dt_max:g}, got {self.dt_min:g}")
        set_("safety", number("safety", self.safety, 0.0, 1.0, low_open=True))
        set_("factor_min", number("factor_min", self.factor_min, 0.0, 1.0, low_open=True, high_open=True))
        set_("factor_max", number("factor_max", self.factor_max, 1.0, low_open=True))

    def check_first_step(self, dt):
        """An adaptive method's first step ``dt`` must lie in [dt_min, dt_max]."""
        if dt is not None and not self.dt_min <= dt <= self.dt_max:
            raise OptionError("dt", f"must be in [dt_min, dt_max] = [{self.dt_min:g}, {self.dt_max:g}], got {dt:g}")


#: StepControl's fields: also the suite's integrator keys that map onto it.
STEP_FIELDS = tuple(f.name for f in fields(StepControl))


@dataclass(frozen=True)
class Save:
    """Where the observables (and, with ``theta=True``, θ itself) are recorded; the integrator hits each time
    exactly.

    ``schedule`` "log" records ``per_decade`` log-spaced times per decade from ``t_first`` (default 0.01) to
    t_end; "linear" records ``per_decade`` equally spaced times in all; ``times`` gives the times instead
    (increasing, in (0, t_end]). t = 0 and t_end are always recorded. ``integrate(save="linear")`` and
    ``integrate(save=[...])`` are shorthand for ``Save(schedule="linear")`` and ``Save(times=[...])``.
    """

    schedule: str | None = None
    per_decade: int | None = None
    t_first: float | None = None
    times: tuple | None = None
    theta: bool = False

    def __post_init__(self):
        set_ = object.__setattr__.__get__(self)
        if self.times is not None:
            if (self.schedule, self.per_decade, self.t_first) != (None, None, None):
                raise OptionError("save", "takes either times or schedule/per_decade/t_first, not both")
            set_("times", _times(self.times))
        else:
            set_("schedule", choice("save schedule", "log" if self.schedule is None else self.schedule, SCHEDULES))
            set_("per_decade", integer("per_decade", 10 if self.per_decade is None else self.per_decade))
            if self.t_first is not None:
                set_("t_first", number("t_first", self.t_first, 0.0, low_open=True))
        if not isinstance(self.theta, (bool, np.bool_)):
            raise OptionError("theta", f"must be True or False, got {self.theta!r}")

    @classmethod
    def of(cls, save):
        """A Save from the ``save=`` argument: a Save, "log", "linear" or a sequence of times."""
        if isinstance(save, cls):
            return save
        if isinstance(save, str):
            return cls(schedule=save)
        if isinstance(save, (list, tuple, np.ndarray)):
            return cls(times=save)
        raise OptionError("save", f"must be 'log', 'linear', a sequence of times or a sadbench.Save, got {save!r}")

    @property
    def grid(self):
        """The times as an array, or the schedule's name."""
        return self.schedule if self.times is None else np.array(self.times)


def _times(times):
    try:
        array = np.asarray(times, dtype=np.float64)
    except (TypeError, ValueError):
        raise OptionError("save times", f"must be a sequence of numbers, got {times!r}") from None
    if array.ndim != 1 or array.size == 0 or not np.all(np.isfinite(array)) or np.any(array < 0) \
            or np.any(np.diff(array) <= 0):
        raise OptionError("save times", f"must be a non-empty, strictly increasing sequence of finite times ≥ 0, "
                                        f"got {times!r}")
    return tuple(float(t) for t in array)


#: integrate()'s keywords of earlier versions and what replaced them.
RENAMED = {
    **{key: f"step=sadbench.StepControl({key}=...)" for key in STEP_FIELDS},
    "max_wall_time": "max_wall=...",
    "save_per_decade": "save=sadbench.Save(per_decade=...)",
    "t_first": "save=sadbench.Save(t_first=...)",
    "save_theta": "save=sadbench.Save(theta=True)",
}


def refuse_unknown(function, given, valid):
    """Refuse keywords that ``function`` does not take, saying the new spelling of a renamed one."""
    for key in given:
        if key in RENAMED:
            raise OptionError(key, f"is no longer an argument of {function}(): use {RENAMED[key]}")
        close = difflib.get_close_matches(key, valid, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise OptionError(key, f"is not an argument of {function}(); valid: {', '.join(sorted(valid))}{hint}")
