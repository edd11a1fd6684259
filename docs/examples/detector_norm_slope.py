"""A detector plugin: reports the growth exponent of ||θ|| over the last decade of saved
times.

A detector is a factory ``factory(**params)`` (its keyword parameters are what a suite
may set) whose objects have ``events()`` (terminal thresholds the compiled loop
enforces, here none) and ``assess(trace)``, which reads one member's saved series
(``trace.t``, ``loss``, ``norm``, ``grad_norm``, ``R``, ...) and returns a
``sadbench.Finding`` or None. The label "info" adds evidence to the verdict without
deciding it; a detector that decides ("converged", "diverging", "directional", "failed")
must be able to say "undecided" with a reason when its evidence is not enough. Run:
``python docs/examples/detector_norm_slope.py``.
"""

import numpy as np

import sadbench


class NormSlope:
    """d log||θ|| / d log t fitted over the saved times of the last ``decades`` decades."""

    def __init__(self, decades=1.0):
        self.decades = float(decades)

    def events(self):
        return {}

    def assess(self, trace):
        t, norm = np.asarray(trace.t), np.asarray(trace.norm)
        keep = (t > 0) & (t >= t[-1] / 10**self.decades) & np.isfinite(norm)
        if keep.sum() < 3:
            return None  # the question does not apply yet: too few saved times
        slope = np.polyfit(np.log(t[keep]), np.log(norm[keep]), 1)[0]
        return sadbench.Finding(
            "norm_slope",
            "info",
            float(t[keep][-1]),
            {"slope": float(slope), "points": int(keep.sum())},
        )


@sadbench.hookimpl
def sadbench_register_detectors(register):
    register(
        sadbench.Detector(
            "norm_slope", NormSlope, description="growth exponent of ||θ|| (info)"
        )
    )


if __name__ == "__main__":
    registry = sadbench.get_registry(paths=[__file__])
    net = sadbench.Network([1, 1, 1], activation="tanh", bias=False, registry=registry)
    X = np.array([[1.0], [2.0]])  # the two-parameter SAD toy: ||θ|| grows like t^(1/6)
    sol = sadbench.integrate(
        net,
        np.array([1.0, 1.0]),
        X,
        X,
        integrator="bdf",
        t_end=1e6,
        rtol=1e-8,
        atol=1e-10,
        detectors=["norm_slope"],
    )
    print(sol.findings)
