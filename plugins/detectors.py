"""Built-in detectors: what a trajectory's saved series says about its fate (docs/science.md §2, §4, §5).

Each detector returns a :class:`~sadbench.Finding` with its evidence numbers: a decided label when its rule
holds, "undecided" with the reason when its question is open at this horizon, "info" for evidence only, or
None when its question does not apply. Rules prefer "undecided": a divergent SAD flow can look converged for
decades, and a converging one can look like slow growth. ``stop(trace)`` (called between chunks of save
times) ends a member early once a terminal detector has decided.
"""

from itertools import pairwise

import numpy as np

from sadbench import Detector, Finding, hookimpl
from sadbench.solvers.driver import STATUS_MESSAGES
from sadbench.verdicts.observables import norms, pl_ratio
from sadbench.verdicts.series import Series, first_stable
from sadbench_plugins._findings import floats, undecided
from sadbench_plugins.critical_point import CriticalPoint
from sadbench_plugins.loss_limit import LossLimit


class NonFinite:
    """Numerical failure, reported apart from a true blow-up: a non-finite state, loss or gradient, a
    collapsed step size, or a loss that rose by more than ``loss_rise``·L(θ0) (a gradient flow never
    raises L: the step was too large for the method). An exhausted step or wall-time budget only cuts the
    horizon short: it is reported as undecided, and what the other detectors read before it stands."""

    def __init__(self, loss_rise=1e-3):
        self.loss_rise = float(loss_rise)

    def events(self):
        return {}

    def assess(self, trace):
        if trace.status in ("nonfinite", "dt_min"):
            return Finding("nonfinite", "failed", trace.t_final, {"status": trace.status},
                           reason=STATUS_MESSAGES[trace.status])
        loss = np.asarray(trace.loss, dtype=float)
        if loss.size > 1 and np.isfinite(loss[0]):
            rise = loss - np.minimum.accumulate(np.where(np.isfinite(loss), loss, np.inf))
            bad = np.flatnonzero(rise > self.loss_rise * abs(loss[0]))
            if bad.size:
                k = bad[0]
                return Finding("nonfinite", "failed", float(trace.t[k]),
                               floats(status=trace.status, loss=loss[k], rise=rise[k], loss0=loss[0]),
                               reason=f"L rose by {rise[k]:.3g} at t = {trace.t[k]:.4g}: not a gradient flow "
                                      "(step size too large for the method?)")
        if trace.status in ("max_steps", "wall_time"):  # named for what it is: nothing went non-finite
            return undecided("budget", trace, {"status": trace.status},
                              f"{STATUS_MESSAGES[trace.status]} (t = {trace.t_final:.4g})")
        return None


class NormThreshold:
    """Divergence by a threshold: ||θ|| beyond ``threshold`` ends the run and counts as diverging."""

    def __init__(self, threshold=1e6):
        self.threshold = float(threshold)

    def events(self):
        return {"stop_norm_above": self.threshold}

    def assess(self, trace):
        norm = float(norms(trace.theta))
        if trace.status == "stop_norm" or norm > self.threshold:
            return Finding("norm_threshold", "diverging", trace.t_final,
                           {"norm": norm, "threshold": self.threshold},
                           limit_loss=float(trace.loss[-1]) if trace.loss.size else float("nan"))
        return None


def _limit_loss(s, lo, hi):
    """Estimate of lim L from ||∇L|| ~ t^s over [lo, hi] and the energy identity: (L*, "zero" | "positive" |
    "unknown")."""
    slope = s.slope(s.grad, lo, hi)
    L_star = s.loss[-1] - s.remaining_loss(slope)
    if not np.isfinite(L_star):
        return float("nan"), "unknown"
    if L_star <= 0.1 * s.loss[-1]:
        return max(float(L_star), 0.0), "zero"
    return float(L_star), "positive" if L_star >= 0.5 * s.loss[-1] else "unknown"


class Divergence:
    """Divergence of ||θ|| while L converges, robust to plateaus.

    Over the last ``decades`` of saved time, split into ``steps_per_decade`` equal log-steps, it is decided
    when ||θ|| never decreases, grows by at least ``min_growth``·||θ|| in every step, and its increments do
    not shrink faster than e^``increment_trend`` per decade (log growth keeps them constant, power growth
    makes them grow, convergence makes them shrink geometrically) nor grow faster than ||θ|| itself: if
    increments ~ t^b while ||θ|| ~ t^a with b > a + ``max_excess``, ||θ|| is still moving away from its
    initial scale (the fitting transient, not yet an asymptotic law); R(t) = ||θ||·||∇L|| falls in every step,
    with log-log slope ≤ ``r_slope`` over the window; and the path length ∫||∇L|| dt keeps growing: like
    t^q with q ≥ ``min_path_power`` over the window, or like log t (|q| < ``min_path_power``, as in logistic
    regression) with d||θ||/d ln t steady (increments within a factor ``log_regularity``), since slow
    convergent flows wander through such log-path phases irregularly; and ||∇L|| decays no faster than
    t^``grad_slope`` in the last step. Three decades keep most of the fitting transient out of the window,
    and the rule must then keep holding for ``persist`` decades: slow convergent flows can satisfy it for a
    while. It reports the growth exponents (||θ|| ~ t^a, d||θ||/d ln t), the path exponent q and the limit L*.
    """

    def __init__(self, decades=3.0, persist=1.0, steps_per_decade=2, increment_trend=-0.1, max_excess=0.5,
                 r_slope=-0.1, min_path_power=0.1, log_regularity=1.3, grad_slope=-1.2, min_growth=1e-3,
                 terminal=True):
        self.decades, self.persist = float(decades), float(persist)
        self.steps = max(2, round(float(decades) * int(steps_per_decade)))
        self.increment_trend, self.max_excess = float(increment_trend), float(max_excess)
        self.r_slope, self.min_path_power = float(r_slope), float(min_path_power)
        self.log_regularity, self.grad_slope = float(log_regularity), float(grad_slope)
        self.min_growth, self.terminal = float(min_growth), bool(terminal)

    def events(self):
        return {}

    def _rule(self, s):
        """(holds, evidence, reason) from the series up to its last point."""
        if len(s) < 3 or s.decades() < self.decades * (1 - 1e-9):
            return False, {}, f"horizon too short: {s.decades():.2g} decades saved, {self.decades:g} needed"
        hi = s.t[-1]
        edges = np.geomspace(hi / 10.0**self.decades, hi, self.steps + 1)
        lo, last = edges[0], edges[-2]
        norms = s.at(s.norm, edges)
        steps = np.diff(norms)
        window = s.norm[s.t >= lo]
        L_star, kind = _limit_loss(s, last, hi)
        per_decade = self.steps / self.decades
        ev = floats(t_from=lo, norm_from=norms[0], norm=norms[-1],
                     norm_power=s.slope(s.norm, lo, hi), norm_per_log_t=steps[-1] * per_decade / np.log(10),
                     R=s.R[-1], R_slope=s.slope(s.R, lo, hi),
                     R_slope_max=max(s.slope(s.R, a, b) for a, b in pairwise(edges)),
                     path_power=1.0 + s.slope(s.grad, lo, hi), grad_slope=s.slope(s.grad, last, hi),
                     loss=s.loss[-1], loss_slope=s.slope(s.loss, lo, hi),
                     L_star=L_star, L_star_kind=kind)
        ev["increments"] = [float(d) for d in steps]
        if np.any(np.diff(window) < -1e-9 * window[1:]):
            return False, ev, f"||θ|| decreased within the last {self.decades:g} decades"
        if not np.all(steps >= self.min_growth * norms[-1]):
            return False, ev, (f"||θ|| nearly constant (growth {steps.min() / norms[-1]:.2g} per step): a limit "
                               "or a plateau, not decided at this horizon")
        trend = np.polyfit(np.log10(edges[1:]), np.log(steps), 1)[0]
        excess = trend / np.log(10) - ev["norm_power"]
        ev.update(increment_trend=float(trend), increment_excess=float(excess))
        if trend < self.increment_trend:
            return False, ev, (f"horizon too short: ||θ|| still growing but slowing (increments ×{np.exp(trend):.2f}"
                               " per decade): it may converge")
        if excess > self.max_excess:
            return False, ev, (f"||θ|| accelerating away from its initial scale (increments ~ "
                               f"t^{trend / np.log(10):.2f} while ||θ|| ~ t^{ev['norm_power']:.2f}): still a transient")
        if not (ev["R_slope"] <= self.r_slope and ev["R_slope_max"] < 0):
            return False, ev, (f"horizon too short: ||θ|| still growing, R(t) slope {ev['R_slope']:.2g} "
                               f"(steepest rise {ev['R_slope_max']:.2g}) not yet decisive")
        q = ev["path_power"]
        if not (q > -self.min_path_power and ev["grad_slope"] >= self.grad_slope):
            return False, ev, (f"||∇L|| decays like t^{q - 1:.2f} (last step t^{ev['grad_slope']:.2f}): the path "
                               "may be finite (growth may stop)")
        if q < self.min_path_power and steps.max() > self.log_regularity * steps.min():
            return False, ev, (f"path ~ log t but d||θ||/d ln t unsteady (increments vary "
                               f"×{steps.max() / steps.min():.2g}): a slow phase that may still converge")
        return True, ev, ""

    def _judge(self, s, scan_all=True):
        """(time decided or None, evidence, reason). The rule must have held at every save of the last
        ``persist`` decades; ``scan_all`` looks back to where it first held for good (the decision time)."""
        holds, ev, reason = self._rule(s)
        if not holds:
            return None, ev, reason
        start = 2 if scan_all else max(2, np.searchsorted(s.t, s.t[-1] / 10.0**self.persist, side="right") - 1)
        k = first_stable(len(s), lambda j: self._rule(s.upto(j + 1))[0], start=start)
        held = float(np.log10(s.t[-1] / s.t[k]))
        ev["held_decades"] = held
        if held < self.persist * (1 - 1e-9):
            return None, ev, (f"||θ|| has grown like a divergent flow's since t = {s.t[k]:.3g}, for {held:.2f} of "
                              f"the {self.persist:g} decades required")
        return float(s.t[np.searchsorted(s.t, s.t[k] * 10.0**self.persist * (1 - 1e-9))]), ev, ""

    def stop(self, trace):
        return self.terminal and self._judge(Series.of(trace), scan_all=False)[0] is not None

    def assess(self, trace):
        when, evidence, reason = self._judge(Series.of(trace))
        if when is None:
            return undecided("divergence", trace, evidence, reason)
        return Finding("divergence", "diverging", when, evidence, limit_loss=evidence["L_star"],
                       reason=f"||θ|| ~ t^{evidence['norm_power']:.2g} (d||θ||/d ln t = "
                              f"{evidence['norm_per_log_t']:.2g}), R(t) ~ t^{evidence['R_slope']:.2g}, "
                              f"L* {evidence['L_star_kind']}, held {evidence['held_decades']:.2g} decades")


def _classification(probe):
    """(degree D, ℓ(0)) when the probe is a binary classification loss on a positively homogeneous network
    (no hidden layer, or no biases and a homogeneous activation), else None."""
    if probe is None:
        return None
    net = probe.net
    loss = net.registry.get("loss", probe.loss)
    homogeneous = len(net.layers) == 1 or (net.activation.homogeneous and not net.bias)
    if loss.labels != "sign" or net.output_dim != 1 or not homogeneous:
        return None
    return len(net.layers), float(loss.value(0.0, 1.0))


class Directional:
    """Directional convergence and alignment (Ji–Telgarsky) for homogeneous networks with an exponentially
    tailed classification loss (logistic, exponential); not applicable otherwise.

    Decided when L falls below ℓ(0)/n: then every point has a positive margin, and for a D-homogeneous network
    the flow diverges with θ/||θ|| converging and the normalised margin min_i y_i N(x_i)/||θ||^D increasing
    (Lyu–Li; Ji–Telgarsky). The observed alignment cos(θ, -∇L), the turning rate of θ/||θ|| per unit ln t and
    the margin are reported as evidence.
    """

    def __init__(self, terminal=True):
        self.terminal = bool(terminal)

    def events(self):
        return {}

    def stop(self, trace):
        return self.terminal and getattr(self.assess(trace), "label", None) == "directional"

    def assess(self, trace):
        setting = _classification(trace.probe)
        if setting is None:
            return None
        degree, ell0 = setting
        probe, s = trace.probe, Series.of(trace)
        if len(s) < 2:
            return undecided("directional", trace, {}, "too few saved points")
        threshold = ell0 / len(probe.X)
        margins = probe.Y[:, 0] * probe.net.forward(trace.theta, probe.X)[:, 0]
        turn = np.arccos(np.clip(s.dir_cos[-1], -1.0, 1.0)) / np.log(s.t[-1] / s.t[-2])
        evidence = floats(loss=s.loss[-1], certificate_loss=threshold, degree=degree,
                           min_margin=margins.min(), normalised_margin=margins.min() / s.norm[-1] ** degree,
                           alignment=s.align[-1], turning_rate=turn,
                           norm_per_log_t=(s.norm[-1] - s.at(s.norm, s.t[-1] / 10)) / np.log(10))
        below = np.flatnonzero(s.loss < threshold)
        if below.size == 0:
            return undecided("directional", trace, evidence,
                              f"L = {s.loss[-1]:.3g} not yet below ℓ(0)/n = {threshold:.3g}: some point may "
                              "still be misclassified")
        if margins.min() <= 0:
            return undecided("directional", trace, evidence, "L fell below ℓ(0)/n but a final margin is ≤ 0")
        return Finding("directional", "directional", float(s.t[below[0]]), evidence, limit_loss=0.0,
                       reason=f"L < ℓ(0)/n from t = {s.t[below[0]]:.3g}; alignment {s.align[-1]:.4f}")


class Chatterjee:
    """Chatterjee's certificate, estimated: α(θ0, r) = inf over the ball B(θ0, r) of ||∇L||²/L.

    α is sampled at ``directions`` random directions on ``radii`` spheres (r from 2·L(θ0)/||∇L(θ0)||, below
    which the certificate cannot hold, up to 16 times that), at the origin (a critical point of every
    bias-free network with σ(0) = 0), on the segment θ0 → θ_final, and at the saved trajectory points whose
    path length from θ0 is within r. If 4·L(θ0) < r²·α, the flow stays in the ball and L → 0 like
    exp(-α t). Sampling only over-estimates the infimum, so it decides "converged" only at a radius where
    the trajectory confirms it: its whole path within r, L(t) ≤ L(θ0)·exp(-α̂ t) at every save above
    ``zero_loss``·L(θ0), and L down to that level.
    """

    def __init__(self, directions=16, radii=8, seed=0, zero_loss=1e-10):
        self.directions, self.radii, self.seed = int(directions), int(radii), int(seed)
        self.zero_loss = float(zero_loss)

    def events(self):
        return {}

    def _samples(self, trace, s, radii):
        """(distance from θ0, ||∇L||²/L) of every sample point."""
        theta0 = trace.theta0
        rng = np.random.default_rng(self.seed)
        u = rng.normal(size=(self.directions, theta0.size))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        motion = trace.theta - theta0
        distance = float(np.linalg.norm(motion))
        points = [theta0[None, :], np.zeros((1, theta0.size))] + [theta0 + r * u for r in radii]
        if distance > 0:
            points.append(theta0 + np.minimum(radii, distance)[:, None] * (motion / distance))
        points = np.concatenate(points)
        losses, grads = trace.probe.loss_and_grad(points)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(losses > 0, pl_ratio(norms(grads), losses), np.inf)
        active = s.loss > self.zero_loss * s.loss0
        dist = np.concatenate([np.linalg.norm(points - theta0, axis=1), s.path()[active]])
        return dist, np.concatenate([ratio, pl_ratio(s.grad[active], s.loss[active])])

    def assess(self, trace):
        if trace.probe is None or trace.theta0 is None:
            return None
        s = Series.of(trace)
        L0, grad0 = trace.probe.loss_and_grad(trace.theta0)
        g0 = float(np.linalg.norm(grad0))
        if not (L0 > 0 and g0 > 0 and len(s) > 1):
            return None
        radii = 2.0 * L0 / g0 * np.geomspace(1.25, 16.0, self.radii)
        dist, ratio = self._samples(trace, s, radii)
        alpha = np.array([ratio[dist <= r * (1 + 1e-12)].min() for r in radii])
        active = s.loss > self.zero_loss * L0
        path = s.path_length()
        holds = 4.0 * L0 < radii**2 * alpha
        follows = np.array([np.all(s.loss[active] <= L0 * np.exp(-a * s.t[active]) * (1 + 1e-9)) for a in alpha])
        certified = np.flatnonzero(holds & (path <= radii) & follows)
        pick = certified[0] if certified.size else int(np.argmax(radii**2 * alpha))
        r, a = float(radii[pick]), float(alpha[pick])
        evidence = floats(estimate="sampled: an upper bound on the true infimum", r=r, alpha_hat=a,
                           lhs=4.0 * L0, rhs=r * r * a, holds=holds[pick], samples=dist.size, path_length=path,
                           inside=path <= r, follows_rate=follows[pick])
        reached = np.flatnonzero(~active)
        if certified.size and reached.size:
            return Finding("chatterjee", "converged", float(s.t[reached[0]]), evidence, limit_loss=0.0,
                           reason=f"4·L(θ0) = {4 * L0:.3g} < r²·α̂ = {r * r * a:.3g} (estimate), confirmed")
        why = ("L has not reached zero yet" if certified.size else "4·L(θ0) ≥ r²·α̂ at every radius tried"
               if not holds.any() else "at every radius where 4·L(θ0) < r²·α̂ the path left the ball or L "
               "decayed slower than exp(-α̂ t)")
        return Finding("chatterjee", "info", float(trace.t_final), evidence, reason=f"no certificate: {why}")


class RProduct:
    """Records R(t) = ||θ||·||∇L|| at the last saved time and its log-log slope over the last decade."""

    def events(self):
        return {}

    def assess(self, trace):
        s = Series.of(trace)
        if len(s) == 0:
            return None
        R = s.R
        return Finding("r_product", "info", float(s.t[-1]),
                       {"R": float(R[-1]), "R_slope": s.slope(R, s.t[-1] / 10.0, s.t[-1])})


@hookimpl
def sadbench_register_detectors(register):
    for name, cls in (("nonfinite", NonFinite), ("norm_threshold", NormThreshold),
                      ("critical_point", CriticalPoint), ("divergence", Divergence),
                      ("directional", Directional), ("chatterjee", Chatterjee), ("r_product", RProduct),
                      ("loss_limit", LossLimit)):
        register(Detector(name, cls, description=cls.__doc__.split("\n\n")[0]))
