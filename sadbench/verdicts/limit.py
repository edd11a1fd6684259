"""The limit loss L* = lim L(θ(t)), estimated with an error bar from the energy identity (docs/science.md §6).

L(t) − L* = ∫_t^∞ ||∇L(θ(s))||² ds. Over the saved points the integral is known; beyond the last one it is
extrapolated from the decay of ||∇L||² fitted on the last decades: if ||∇L||² ~ t^-q with q > 1, the tail is
t·||∇L(t)||²/(q − 1) (for an exponential decay the local log-log slope is steep and the same formula gives
||∇L||²/rate). The error bar adds the spread of the tail over fitting windows of half a decade, one and two
decades, the change it would see if the exponent drifted as much as it did from the decade before to the
last one, the energy identity's own residual over the last decade (integration and quadrature error, which
the estimate cannot be better than), and the rounding of L. A tail with logarithmic corrections (||∇L||² ~
1/(t·log² t), whose exponent creeps towards 1) is still underestimated: no fit over a few decades sees it.

Everything is in terms of the *excess* loss L − floor (see :mod:`sadbench.verdicts.floor`), so twins whose
losses differ by a constant get the same estimate.
"""

import math
from dataclasses import dataclass

import numpy as np

EPS = np.finfo(float).eps
WINDOWS = (0.25, 0.5, 1.0, 2.0)  # decades of saved time the tail's decay is fitted over
_MIN_POINTS = 3


@dataclass(frozen=True)
class LimitEstimate:
    """L* − floor (``value``) with its error bar: the limit lies in [``lo``, ``hi``] (clipped to [0, L(t)]).
    ``tail`` is the loss still to be lost after ``t``, ``decay`` the fitted exponent q of ||∇L||² ~ t^-q (NaN
    where no window has enough points); ``finite`` is False when the tail integral diverges at the fitted
    rate (||∇L||² decays no faster than 1/t: L must still fall a lot, the estimate is only the bound L* ≤ L)."""

    t: float
    loss: float
    value: float
    error: float
    lo: float
    hi: float
    tail: float
    decay: float
    finite: bool

    def to_dict(self):
        return {k: float(v) if isinstance(v, (float, np.floating)) else v for k, v in self.__dict__.items()}

    def text(self):
        if not self.finite:
            return f"L* ≤ {self.loss:.3g} (||∇L||² decays like t^-{self.decay:.2f}: the tail does not converge yet)"
        return f"L* = {self.value:.3g} ± {self.error:.2g} (tail {self.tail:.3g} after t = {self.t:.3g})"


def integral_of_squares(t, grad):
    """∫ ||∇L||² dt between consecutive saved points, exact where ||∇L||² is a power of t in between (the
    integrand t·||∇L||² is then exponential in ln t), so power-law tails cost no quadrature error."""
    u = np.log(t)
    y = np.log(np.maximum(t * grad**2, 1e-300))
    du, dy = np.diff(u), np.diff(y)
    left = np.exp(y[:-1])
    with np.errstate(over="ignore", invalid="ignore"):
        ratio = np.where(np.abs(dy) > 1e-8, np.expm1(dy) / dy, 1.0 + 0.5 * dy)
    return left * du * ratio


def _decay(t, grad, lo, hi=math.inf):
    """The exponent q of ||∇L||² ~ t^-q, least squares over the points in [lo, hi] (NaN with too few)."""
    inside = (t >= lo * (1 - 1e-12)) & (t <= hi * (1 + 1e-12))
    if inside.sum() < _MIN_POINTS:
        return math.nan
    x = np.log(t[inside])
    y = np.log(np.maximum(grad[inside] ** 2, 1e-300))
    x = x - x.mean()
    return float(-(x @ (y - y.mean())) / (x @ x))


def estimate_limit(t, loss, grad, floor=0.0):
    """The :class:`LimitEstimate` from saved times ``t`` > 0, excess losses ``loss`` (L − floor) and gradient
    norms ``grad`` (numpy arrays, increasing t); ``floor`` only sizes the rounding of L."""
    t, loss, grad = (np.asarray(a, dtype=float) for a in (t, loss, grad))
    t_end, L_end, g_end = float(t[-1]), float(loss[-1]), float(grad[-1])
    rounding = 8.0 * EPS * (abs(floor) + abs(L_end))
    decays = {w: _decay(t, grad, t_end / 10.0**w) for w in WINDOWS}
    settled = decays[1.0] if math.isfinite(decays[1.0]) else decays[0.5]
    if not (math.isfinite(settled) and settled > 1.0):
        return LimitEstimate(t_end, L_end, L_end, L_end, 0.0, max(L_end, 0.0), math.inf, settled, False)
    tails = {w: t_end * g_end**2 / (q - 1.0) for w, q in decays.items() if math.isfinite(q) and q > 1.0}
    # the steepest window's tail: an accelerating (exponential) decay is seen best close to the end, and
    # the smaller tail is the cautious one for a claim that L still has far to fall
    main = max((q for q in decays.values() if math.isfinite(q) and q > 1.0))
    tail = min(tails.values())
    spread = max(tails.values()) - tail
    if any(math.isfinite(q) and q <= 1.0 for q in decays.values()):
        spread = max(spread, tail)  # a window where the tail diverges: the decay is not settled
    before = _decay(t, grad, t_end / 100.0, t_end / 10.0)
    if math.isfinite(before):
        drifted = main - abs(before - main)
        spread = max(spread, tail if drifted <= 1.0 else t_end * g_end**2 / (drifted - 1.0) - tail)
    window = t >= t_end / 10.0 * (1 - 1e-12)
    pieces = integral_of_squares(t[window], grad[window])
    to_end = np.concatenate([np.cumsum(pieces[::-1])[::-1], [0.0]])
    residual = float(np.max(np.abs(loss[window] - L_end - to_end))) if window.sum() > 1 else 0.0
    value = L_end - tail
    error = spread + residual + rounding
    return LimitEstimate(t_end, L_end, value, error, max(value - error, 0.0), min(max(value + error, 0.0), L_end),
                         tail, main, True)
