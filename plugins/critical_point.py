"""The ``critical_point`` detector: convergence to a critical point, with the limit L* and its kind."""

import numpy as np

from sadbench import Finding
from sadbench.verdicts.limit import estimate_limit
from sadbench.verdicts.series import Series
from sadbench_plugins._findings import floats, undecided


def _hessian_extremes(trace, max_params):
    """(λ_min, λ_max) of the exact Hessian at the final θ, or (None, why not)."""
    if trace.probe is None:
        return None, "no landscape probe"
    if trace.theta.size > max_params:
        return None, f"P = {trace.theta.size} > {max_params} parameters"
    H = trace.probe.hessian(trace.theta)
    if not np.all(np.isfinite(H)):
        return None, "Hessian not finite (activation without σ″?)"
    eig = np.linalg.eigvalsh(0.5 * (H + H.T))
    return (float(eig[0]), float(eig[-1])), ""


class CriticalPoint:
    """Convergence to a critical point, with the limit L* and its kind.

    Decided at the first saved time t_k where ||∇L|| decays at least like t^-``grad_decay`` over the last
    ``span`` decades and the path still to go, t·||∇L||/(p − 1) for ||∇L|| ~ t^-p, is below ``path_tol``·
    max(1, ||θ||), provided ||θ|| then stays within that band and L does not drop further at every later
    save. L* = L minus the loss still to be lost (energy identity); it is a zero-loss minimum when
    L* ≤ ``zero_loss``·L(θ0), else the smallest Hessian eigenvalue (for P ≤ ``max_hessian_params``) tells a
    local minimum from a saddle. A saddle, or a limit whose Hessian is unavailable, must hold for
    ``confirm_decades`` of time more: flows pass saddles (plateaus), they rarely stop at one.

    A slow power law converges too (docs/science.md §6: finite length decides convergence): when ||∇L||
    decays at least like t^-``grad_decay`` in each of the last ``finite_decades`` decades and the Hessian
    says local minimum, the path is finite and the flow converges, however far it still has to go — unless
    the case's premises put L > floor at every θ (Thm 3.4), where the theorems expect divergence and only
    the strict rule above may claim convergence. Where ||∇L||² ≥ μ(L − L*) held over the last decade
    (local PL), the remaining path is reported as at most 2√((L − L*)/μ).
    """

    def __init__(self, grad_decay=1.5, span=0.3, path_tol=1e-6, zero_loss=1e-10, saddle_tol=1e-6,
                 max_hessian_params=2000, confirm_decades=1.0, finite_decades=3.0, terminal=True):
        self.grad_decay, self.span, self.path_tol = float(grad_decay), float(span), float(path_tol)
        self.zero_loss, self.saddle_tol = float(zero_loss), float(saddle_tol)
        self.max_hessian_params, self.confirm_decades = int(max_hessian_params), float(confirm_decades)
        self.finite_decades = float(finite_decades)
        self.terminal = bool(terminal)

    def events(self):
        return {}

    def stop(self, trace):
        return self.terminal and self.assess(trace).label == "converged"

    def _settled(self, s):
        """Per point: the local decay exponent p, the remaining-path estimate, and whether both pass."""
        p = -s.point_slopes(s.grad, self.span)
        with np.errstate(divide="ignore", invalid="ignore"):
            remaining = np.where(p > 1.0, s.t * s.grad / (p - 1.0), np.inf)
        tol = self.path_tol * np.maximum(1.0, s.norm)
        return p, remaining, (p >= self.grad_decay) & (remaining <= tol)

    def _confirmed_from(self, s, p, remaining, near):
        """The first near-critical point after which ||θ|| and L stay put (within what was left to go)."""
        for k in np.flatnonzero(near):
            band = max(10.0 * remaining[k], self.path_tol * max(1.0, s.norm[k]))
            loss_band = max(10.0 * s.remaining_loss(-p[k], k), self.path_tol * abs(s.loss0))
            if np.all(np.abs(s.norm[k:] - s.norm[k]) <= band) and s.loss[k] - s.loss[k:].min() <= loss_band:
                return k
        return None

    def assess(self, trace):
        s = Series.of(trace)
        if len(s) < 3:
            return undecided("critical_point", trace, {}, "too few saved points")
        p, remaining, near = self._settled(s)
        k = self._confirmed_from(s, p, remaining, near)
        evidence = floats(grad_norm=s.grad[-1], grad_rel=s.grad[-1] / s.grad_max, grad_decay=p[-1],
                           remaining_path=remaining[-1], path_length=s.path_length(), norm=s.norm[-1])
        if trace.theta0 is not None:
            evidence["displacement"] = float(np.linalg.norm(trace.theta - trace.theta0))
        if k is None:
            finite = self._finite_path(trace, s, evidence)
            if finite is not None:
                return finite
            return undecided("critical_point", trace, evidence, self._why_not(s, p, remaining, near))
        L_star = max(float(s.loss[-1] - s.remaining_loss(-p[k], -1)), 0.0)
        evidence.update(floats(t_settled=s.t[k], grad_decay=p[k], remaining_path=remaining[k], L_star=L_star))
        if L_star <= self.zero_loss * abs(s.loss0):
            evidence["kind"] = "zero-loss minimum"
        else:
            evidence.update(self._kind(trace))
            confirmed = float(np.log10(s.t[-1] / s.t[k]))
            if evidence["kind"] != "local minimum" and confirmed < self.confirm_decades:
                return undecided("critical_point", trace, evidence,
                                  f"near a critical point with L* = {L_star:.3g} > 0 since t = {s.t[k]:.3g}, but "
                                  f"{evidence['kind']}: held for {confirmed:.2f} of {self.confirm_decades:g} "
                                  "decades; the flow may still leave it")
        bound = self._pl_bound(s, trace.floor)
        evidence.update(bound)
        path = (f"remaining path ≤ 2√((L−L*)/μ) = {bound['pl_remaining_path']:.2g} (local PL, μ = "
                f"{bound['pl_mu']:.3g})" if bound else f"remaining path {remaining[k]:.2g}")
        return Finding("critical_point", "converged", float(s.t[k]), evidence, limit_loss=L_star,
                       reason=f"||∇L|| ~ t^-{p[k]:.3g}, {path}; {evidence['kind']}")

    def _pl_bound(self, s, floor):
        """{pl_mu, pl_remaining_path} where ||∇L||²/(L − L*) stayed within a factor 2 over the last decade
        (a local Polyak–Łojasiewicz inequality with μ its minimum), else {}."""
        inside = s.t >= s.t[-1] / 10.0
        if inside.sum() < 3:
            return {}
        estimate = estimate_limit(s.t, s.loss, s.grad, floor)
        gap = s.loss[inside] - estimate.lo
        if not (estimate.finite and np.all(gap > 0)):
            return {}
        ratio = s.grad[inside] ** 2 / gap
        if ratio.max() > 2.0 * ratio.min():
            return {}
        mu = float(ratio.min())
        return {"pl_mu": mu, "pl_remaining_path": float(2.0 * np.sqrt(gap[-1] / mu))}

    def _decade_decays(self, s):
        """The decay exponent of ||∇L|| over each of the last ``finite_decades`` decades (None if shorter)."""
        n = int(round(self.finite_decades))
        ends = s.t[-1] / 10.0 ** np.arange(n + 1)
        if ends[-1] < s.t[0] * (1 - 1e-9):
            return None
        logs = s.at(np.log(np.maximum(s.grad, 1e-300)), ends)
        return (logs[1:] - logs[:-1]) / np.log(10.0)

    def _finite_path(self, trace, s, evidence):
        """The finite-path route (class docstring): a converged Finding, or None."""
        decays = self._decade_decays(s)
        premises = None if trace.probe is None else trace.probe.premises
        if decays is None or not np.all(decays >= self.grad_decay) or premises is None or premises.positive_excess:
            return None
        kind = self._kind(trace)
        if kind["kind"] != "local minimum":
            return None
        q = float(decays.min())
        to_go = float(s.t[-1] * s.grad[-1] / (q - 1.0))
        estimate = estimate_limit(s.t, s.loss, s.grad, trace.floor)
        L_star = float(min(max(estimate.value, 0.0), s.loss[-1]))
        evidence.update(floats(decade_decays=None, remaining_path=to_go, L_star=L_star, **kind))
        evidence["decade_decays"] = [float(d) for d in decays]
        return Finding("critical_point", "converged", float(s.t[-1]), evidence, limit_loss=L_star,
                       reason=f"finite path: ||∇L|| decays like t^-{q:.2f} or faster in each of the last "
                              f"{len(decays)} decades, so the path still to go is at most ≈ {to_go:.2g}; local "
                              "minimum (Hessian ⪰ 0)")

    def _kind(self, trace):
        extremes, why = _hessian_extremes(trace, self.max_hessian_params)
        if extremes is None:
            return {"kind": f"L* > 0, minimum or saddle ({why})"}
        lo, hi = extremes
        saddle = lo < -self.saddle_tol * max(abs(lo), abs(hi))
        return {"kind": "saddle" if saddle else "local minimum", "lambda_min": lo, "lambda_max": hi}

    def _why_not(self, s, p, remaining, near):
        tail = (f"||∇L|| = {s.grad[-1]:.3g} ({s.grad[-1] / s.grad_max:.2g} of its largest), decaying like "
                f"t^-{p[-1]:.3g}")
        if near.any():
            return f"was near-critical at t = {s.t[np.argmax(near)]:.3g} but moved on (a plateau?); now {tail}"
        if not p[-1] > 1.0:
            return f"{tail}: too slow for a finite path (diverging, or a plateau)"
        tol = self.path_tol * max(1.0, s.norm[-1])
        return f"{tail}: remaining path ≈ {remaining[-1]:.2g}, need ≤ {tol:.2g}; not settled at this horizon"
