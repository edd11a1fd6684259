"""A trajectory's saved series read on a log-time axis: the numbers the built-in detectors decide on.

Gradient flows of network losses change on every time scale at once (docs/science.md §3, §5), so everything here
is measured per decade of t: log-log slopes, values interpolated in ln t, increments over equal log-steps.
All of it is cheap numpy on the saved points; nothing here evaluates the network.
"""

from dataclasses import dataclass

import numpy as np

from sadbench.verdicts.observables import r_product

_TINY = 1e-300  # keeps logs of exact zeros finite (a gradient that is exactly 0 decays "infinitely fast")


@dataclass(frozen=True)
class Series:
    """The saved points with t > 0 and finite L, ||θ||, ||∇L||, plus the loss and largest gradient seen."""

    t: np.ndarray
    loss: np.ndarray
    norm: np.ndarray
    grad: np.ndarray
    align: np.ndarray
    dir_cos: np.ndarray
    loss0: float
    grad_max: float

    @classmethod
    def of(cls, trace):
        """The series of ``trace`` with its loss measured above the data floor (``trace.floor``), so that flows
        whose losses differ by a constant read the same (docs/science.md §6)."""
        t = np.asarray(trace.t, dtype=float)
        columns = [np.asarray(getattr(trace, name), dtype=float) for name in ("loss", "norm", "grad_norm")]
        columns[0] = columns[0] - getattr(trace, "floor", 0.0)
        finite = np.isfinite(t) & np.all([np.isfinite(c) for c in columns], axis=0)
        loss0 = float(columns[0][finite][0]) if finite.any() else np.nan
        grad_max = float(columns[2][finite].max()) if finite.any() else np.nan
        keep = finite & (t > 0)
        return cls(t[keep], *(c[keep] for c in columns), np.asarray(trace.align, dtype=float)[keep],
                   np.asarray(trace.dir_cos, dtype=float)[keep], loss0, grad_max)

    def __len__(self):
        return self.t.size

    def upto(self, n):
        """The first ``n`` points, as the detector would have seen them at time ``t[n - 1]``."""
        return Series(self.t[:n], self.loss[:n], self.norm[:n], self.grad[:n], self.align[:n],
                      self.dir_cos[:n], self.loss0, self.grad_max)

    @property
    def R(self):
        """R(t) (:func:`~sadbench.verdicts.observables.r_product`) at the saved points."""
        return r_product(self.norm, self.grad)

    def decades(self):
        """How many decades of t the saved points span."""
        return float(np.log10(self.t[-1] / self.t[0])) if len(self) > 1 else 0.0

    def at(self, values, times):
        """``values`` interpolated linearly in ln t at ``times``."""
        return np.interp(np.log(times), np.log(self.t), values)

    def slope(self, values, lo, hi):
        """Least-squares slope of ln(values) against ln t over the saved points in [lo, hi]; NaN with fewer
        than two points."""
        inside = (self.t >= lo * (1 - 1e-12)) & (self.t <= hi * (1 + 1e-12))
        if inside.sum() < 2:
            return np.nan
        x = np.log(self.t[inside])
        y = np.log(np.maximum(values[inside], _TINY))
        x = x - x.mean()
        return float(x @ (y - y.mean()) / (x @ x))

    def point_slopes(self, values, span):
        """At every point, the slope of ln(values) against ln t back to the point nearest ``span`` decades
        earlier (NaN where there is none)."""
        back = np.searchsorted(self.t, self.t / 10.0**span, side="right") - 1
        back = np.minimum(back, np.arange(len(self)) - 1)
        out = np.full(len(self), np.nan)
        ok = back >= 0
        logv = np.log(np.maximum(values, _TINY))
        logt = np.log(self.t)
        out[ok] = (logv[ok] - logv[back[ok]]) / (logt[ok] - logt[back[ok]])
        return out

    def path(self):
        """The path length ∫_0^t ||θ'|| ds = ∫_0^t ||∇L|| ds at every point (an estimate: t_0·||∇L(t_0)|| up to
        the first point, then the trapezoid rule in ln t); it bounds ||θ(t) - θ(0)||."""
        if len(self) == 0:
            return np.zeros(0)
        pieces = 0.5 * (self.grad[1:] * self.t[1:] + self.grad[:-1] * self.t[:-1]) * np.diff(np.log(self.t))
        return self.t[0] * self.grad[0] + np.concatenate([[0.0], np.cumsum(pieces)])

    def path_length(self):
        return float(self.path()[-1]) if len(self) else 0.0

    def remaining_loss(self, grad_slope, k=-1):
        """∫_t^∞ ||∇L||² ds from point ``k`` on, if ||∇L|| keeps decaying like t^grad_slope: the loss still to
        be lost (the energy identity), infinite when that integral diverges."""
        exponent = -2.0 * grad_slope - 1.0
        return self.t[k] * self.grad[k] ** 2 / exponent if exponent > 0 else np.inf


def first_stable(n, holds, start=1):
    """The smallest k ≥ ``start`` such that ``holds(j)`` for every j in k..n-1 (None if ``holds(n - 1)``
    fails): when a rule that keeps holding first held."""
    k = None
    for j in range(n - 1, start - 1, -1):
        if not holds(j):
            break
        k = j
    return k
