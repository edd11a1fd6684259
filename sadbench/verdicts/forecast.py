"""What an undecided flow's series say about its future: fitted laws, the horizon at which the evidence
would suffice if the trends hold, and the competing hypotheses with their support (docs/science.md §5, §6).

The laws are fitted over the last decades of saved time: ||θ|| as a + b·ln t or c·t^α (whichever fits
better), L − floor as C·t^-a, ||∇L|| as D·t^-p. They are extrapolations, reported as such: a divergent SAD
flow's norm grows in bursts, and a fit over its last decades can look like convergence.
"""

import math

import numpy as np

EPS = np.finfo(float).eps
_WINDOW = 2.0  # decades the laws are fitted over


def _fit(x, y):
    """(slope, intercept, RMS residual) of the least-squares line y ≈ slope·x + intercept."""
    A = np.vstack([x, np.ones_like(x)]).T
    (slope, intercept), *_ = np.linalg.lstsq(A, y, rcond=None)
    return float(slope), float(intercept), float(np.sqrt(np.mean((A @ [slope, intercept] - y) ** 2)))


def norm_law(t, norm):
    """||θ|| ≈ a + b·ln t ("log") or c·t^α ("power"), whichever has the smaller relative residual."""
    b, a, r_log = _fit(np.log(t), norm)
    alpha, log_c, r_power = _fit(np.log(t), np.log(np.maximum(norm, 1e-300)))
    if r_log / max(np.mean(norm), 1e-300) <= r_power:
        return {"law": "a + b·ln t", "a": a, "b": b, "per_decade": b * math.log(10.0)}
    return {"law": "c·t^α", "c": math.exp(log_c), "alpha": alpha,
            "per_decade": float(norm[-1] * (10.0**alpha - 1.0))}


def power_law(t, values):
    """values ≈ C·t^-a: {"C", "a"} (a > 0 for decay)."""
    slope, log_c, _ = _fit(np.log(t), np.log(np.maximum(values, 1e-300)))
    return {"law": "C·t^-a", "C": math.exp(min(log_c, 700.0)), "a": -slope}


def _horizon_finite_path(grad, t_end, path_tol):
    """The t at which the path still to go, t·||∇L||/(p − 1) = D·t^(1−p)/(p − 1) for ||∇L|| = D·t^-p, falls to
    ``path_tol``; None when p ≤ 1 (at that rate the path never ends)."""
    p, D = grad["a"], grad["C"]
    if not p > 1.0:
        return None
    exponent = (math.log(D) - math.log((p - 1.0) * path_tol)) / (p - 1.0)
    return max(t_end, math.exp(min(exponent, 700.0)))


def _horizon_rounding(loss, floor, t_end):
    """The t at which C·t^-a falls to the rounding of L, 8·eps·floor: beyond it L − floor can no longer be
    measured; None without a floor (L is then measured to its own relative precision) or a fall."""
    a, C = loss["a"], loss["C"]
    if not (a > 0.0 and floor > 0.0):
        return None
    exponent = (math.log(C) - math.log(8.0 * EPS * floor)) / a
    return max(t_end, math.exp(min(exponent, 700.0)))


def forecast(series, estimate, floor=0.0, path_tol=1e-6):
    """The forecast of an undecided flow from its :class:`~sadbench.verdicts.series.Series` (losses above
    the floor) and its :class:`~sadbench.verdicts.limit.LimitEstimate`; None with fewer than three points in
    the window."""
    s = series
    if len(s) < 3:
        return None
    inside = s.t >= s.t[-1] / 10.0**_WINDOW
    if inside.sum() < 3:
        return None
    t = s.t[inside]
    laws = {"norm": norm_law(t, s.norm[inside]), "excess_loss": power_law(t, s.loss[inside]),
            "grad_norm": power_law(t, s.grad[inside])}
    tol = path_tol * max(1.0, float(s.norm[-1]))
    horizons = {"finite_path": _horizon_finite_path(laws["grad_norm"], s.t[-1], tol),
                "rounding": _horizon_rounding(laws["excess_loss"], floor, s.t[-1])}
    growth = float(s.norm[-1] - s.norm[inside][0])
    p = laws["grad_norm"]["a"]
    to_go = s.t[-1] * s.grad[-1] / (p - 1.0) if p > 1.0 else math.inf
    hypotheses = [
        {"label": "diverging",
         "support": f"||θ|| grew by {growth:.3g} over the last {_WINDOW:g} decades ({laws['norm']['law']}, "
                    f"{laws['norm']['per_decade']:+.3g} per decade); L − floor falls like "
                    f"t^-{laws['excess_loss']['a']:.2f}"},
        {"label": "converged",
         "support": (f"||∇L|| decays like t^-{p:.2f}: the path still to go is ≈ {to_go:.3g} if that holds"
                     if p > 1.0 else f"||∇L|| decays like t^-{p:.2f}: at that rate the path does not end"),
         "limit_loss": floor + max(estimate.value, 0.0) if estimate.finite else None},
    ]
    return {"window_decades": _WINDOW, "laws": laws, "horizons": horizons, "hypotheses": hypotheses,
            "limit_loss": {"value": floor + max(estimate.value, 0.0), "error": estimate.error,
                           "upper_bound": floor + float(s.loss[-1])}}
