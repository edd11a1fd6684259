"""Built-in detectors: numerical failure, a norm threshold, critical points, and R(t) = ||θ||·||∇L||."""

import numpy as np

from sadbench import Detector, Finding, hookimpl
from sadbench.driver import STATUS_MESSAGES


class NonFinite:
    """Numerical failure: a non-finite state, loss or gradient, or a step size that collapsed."""

    def events(self):
        return {}

    def assess(self, trace):
        if trace.status in ("nonfinite", "dt_min"):
            return Finding("nonfinite", "failed", trace.t_final, {"status": trace.status},
                           reason=STATUS_MESSAGES[trace.status])
        return None


class NormThreshold:
    """Divergence by a threshold: ||θ|| beyond ``threshold`` ends the run and counts as diverging."""

    def __init__(self, threshold=1e6):
        self.threshold = float(threshold)

    def events(self):
        return {"stop_norm_above": self.threshold}

    def assess(self, trace):
        norm = float(np.linalg.norm(trace.theta))
        if trace.status == "stop_norm" or norm > self.threshold:
            return Finding("norm_threshold", "diverging", trace.t_final,
                           {"norm": norm, "threshold": self.threshold}, limit_loss=float(trace.loss[-1]))
        return None


class CriticalPoint:
    """Convergence: ||∇L|| below ``grad_tol`` while ||θ|| stays below ``norm_bound``; ends the run."""

    def __init__(self, grad_tol=1e-10, norm_bound=1e6):
        self.grad_tol, self.norm_bound = float(grad_tol), float(norm_bound)

    def events(self):
        return {"stop_grad_below": self.grad_tol}

    def assess(self, trace):
        grad_norm = float(np.linalg.norm(trace.grad))
        norm = float(np.linalg.norm(trace.theta))
        if grad_norm < self.grad_tol and norm < self.norm_bound:
            return Finding("critical_point", "converged", trace.t_final,
                           {"grad_norm": grad_norm, "norm": norm}, limit_loss=float(trace.loss[-1]))
        return None


class RProduct:
    """Records R(t) = ||θ||·||∇L|| at the last saved time and its log-log slope over the last decade."""

    def events(self):
        return {}

    def assess(self, trace):
        R = trace.R
        good = (trace.t > 0) & np.isfinite(R) & (R > 0)
        t, R = trace.t[good], R[good]
        if t.size == 0:
            return None
        recent = t >= t[-1] / 10.0
        slope = float(np.polyfit(np.log(t[recent]), np.log(R[recent]), 1)[0]) if recent.sum() >= 3 else np.nan
        return Finding("r_product", "info", float(t[-1]), {"R": float(R[-1]), "R_slope": slope})



@hookimpl
def sadbench_register_detectors(register):
    register(Detector("nonfinite", NonFinite, description=NonFinite.__doc__))
    register(Detector("norm_threshold", NormThreshold, description=NormThreshold.__doc__))
    register(Detector("critical_point", CriticalPoint, description=CriticalPoint.__doc__))
    register(Detector("r_product", RProduct, description=RProduct.__doc__))
