"""The ``loss_limit`` detector: where the loss is heading, and what the case's premises make of it.

It estimates L* − floor with an error bar from the energy identity (:mod:`sadbench.verdicts.limit`). When the
excess loss is heading to 0 — the whole error bar a small fraction of what is left — and the case's premises
say L > floor at every θ (Thm 3.4's for SAD setups, or a group of points whose loss has no finite minimiser),
no finite limit exists: the flow diverges (docs/science.md §6). With a premise that fails or is doubtful (n ≤
P), the same evidence decides nothing, and the finding says so.
"""

import numpy as np

from sadbench import Finding
from sadbench.verdicts.limit import estimate_limit
from sadbench.verdicts.series import Series

_MIN_POINTS = 8


def _premise_text(premises):
    names = [name for name in ("sad", "unattained") if premises.holds(name)]
    return " and ".join(premises.premises[name].theorem.split(":")[0] for name in names)


def _loss_at(s, t):
    """L − floor at time ``t``, interpolated linearly in (ln t, ln L)."""
    return float(np.exp(s.at(np.log(np.maximum(s.loss, 1e-300)), np.array([t]))[0]))


def _trailing_slopes(s, windows):
    """ln(L(t)/L(t/10^w)) / ln(10^w) at the last saved t for each window of w decades (None if the series is
    shorter than the longest): end points, not a fit, so that bursts in between do not count."""
    if s.t[-1] / 10.0 ** max(windows) < s.t[0] * (1 - 1e-9):
        return None
    end = max(s.loss[-1], 1e-300)
    return [float(np.log(end / _loss_at(s, s.t[-1] / 10.0**w)) / np.log(10.0**w)) for w in windows]


class LossLimit:
    """L* with its error bar; "diverging" when L − floor → 0 is established under a premise that keeps L >
    floor at every θ.

    L − floor → 0 is established at the last saved time when (1) it fell at least like t^-``min_rate`` over
    every trailing window of ``windows`` decades (no levelling off at any scale), the longest starting after
    the fitting transient (L − floor below ``transient`` of its initial value), and (2) the energy estimate
    agrees: the tail integral converges and, taking the steepest recent decay of ||∇L||² (the smallest tail),
    L* − floor is at most ``zero_fraction`` of L − floor. The fall alone can be fooled by a flow that has just reached a positive limit exponentially,
    the estimate alone by a flow about to level off; not both at once. A divergent SAD flow's loss falls in
    bursts: in a plateau (1) fails and the estimate reads a positive limit, so it says "undecided" there and
    a longer run decides at the next drop.
    """

    def __init__(self, min_rate=0.25, windows=(0.5, 1.0, 2.0, 3.0), transient=1e-2, zero_fraction=0.1,
                 terminal=True):
        self.min_rate, self.windows = float(min_rate), tuple(float(w) for w in windows)
        self.transient, self.zero_fraction = float(transient), float(zero_fraction)
        self.terminal = bool(terminal)

    def events(self):
        return {}

    def stop(self, trace):
        return self.terminal and getattr(self.assess(trace), "label", None) == "diverging"

    def assess(self, trace):
        s = Series.of(trace)
        if len(s) < _MIN_POINTS or not np.all(np.isfinite(s.loss)):
            return Finding("loss_limit", "undecided", float(trace.t_final), {}, reason="too few saved points")
        estimate = estimate_limit(s.t, s.loss, s.grad, trace.floor)
        evidence = {f"L_star_{k}" if k not in ("t", "loss") else k: v for k, v in estimate.to_dict().items()}
        slopes = _trailing_slopes(s, self.windows)
        start = s.loss0 if slopes is None else _loss_at(s, s.t[-1] / 10.0 ** max(self.windows))
        evidence.update(floor=float(trace.floor), loss_slopes=slopes, loss_at_window_start=start)
        finding = lambda label, reason: Finding("loss_limit", label, float(trace.t_final), evidence,
                                                limit_loss=float(min(max(estimate.value, 0.0), s.loss[-1])),
                                                reason=reason)
        if slopes is None:
            return finding("info", f"{estimate.text()}; {max(self.windows):g} decades needed to judge the fall")
        falling = all(np.isfinite(v) and v <= -self.min_rate for v in slopes)
        shown = ", ".join(f"t^{v:.2f}" for v in slopes)
        if not falling or start > self.transient * s.loss0:
            why = "still in the fitting transient" if falling else "not falling steadily at every scale"
            return finding("info", f"L − floor over the last {', '.join(f'{w:g}' for w in self.windows)} decades "
                                   f"falls like {shown}: {why}; {estimate.text()}")
        if not (estimate.finite and estimate.value <= self.zero_fraction * s.loss[-1]):
            return finding("info", f"L − floor falls like {shown}, but {estimate.text()} reads a positive limit")
        premises = None if trace.probe is None else trace.probe.premises
        if premises is None or not premises.positive_excess:
            why = "no landscape probe" if premises is None else "; ".join(premises.premises["sad"].why)
            return finding("info", f"L − floor → 0 (falls like {shown}), but no premise rules out a finite limit "
                                   f"with L = floor ({why})")
        reason = (f"L − floor → 0 (it falls like {shown} over the last {', '.join(f'{w:g}' for w in self.windows)} "
                  f"decades, to {s.loss[-1]:.2g} at t = {s.t[-1]:.3g}, so L* − floor ≤ {s.loss[-1]:.2g}; "
                  f"energy estimate {estimate.text()}), while L > floor for every θ under "
                  f"{_premise_text(premises)}'s premises, so no finite limit exists")
        return Finding("loss_limit", "diverging", float(s.t[-1]), evidence, limit_loss=0.0, reason=reason)
