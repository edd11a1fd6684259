"""What an integration returns: saved time series, final state, counts, status and verdicts."""

from dataclasses import dataclass, field

import numpy as np

from sadbench.solvers.codes import STATUS_MESSAGES
from sadbench.verdicts.observables import norms, r_product


@dataclass(frozen=True)
class Trace:
    """One member's trajectory as a detector sees it: the saved series up to where it stopped."""

    t: np.ndarray
    loss: np.ndarray
    norm: np.ndarray
    grad_norm: np.ndarray
    align: np.ndarray
    dir_cos: np.ndarray
    n_grad: np.ndarray
    status: str
    t_final: float
    theta: np.ndarray
    grad: np.ndarray
    theta0: np.ndarray | None = None
    probe: object = None
    floor: float = 0.0  # the data floor: detectors read the excess loss L - floor (Series.of)

    @property
    def R(self):
        """R(t) (:func:`~sadbench.verdicts.observables.r_product`) at the saved points."""
        return r_product(self.norm, self.grad_norm)


@dataclass(frozen=True)
class Probe:
    """The trajectory's loss landscape, for detectors that need more than the saved series (Chatterjee's α
    over a ball, the smallest Hessian eigenvalue at a limit point), and the case's premises."""

    net: object
    X: np.ndarray
    Y: np.ndarray
    loss: str
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def premises(self):
        """The :class:`~sadbench.verdicts.premises.CasePremises` of this network, data and loss (computed once)."""
        if "premises" not in self._cache:
            from sadbench.verdicts.premises import case_premises

            spec = self.net.registry.get("loss", self.loss)
            self._cache["premises"] = case_premises(self.net, self.X, self.Y, spec)
        return self._cache["premises"]

    @property
    def floor(self):
        return self.premises.floor.value

    def loss_and_grad(self, theta):
        return self.net.loss_and_grad(theta, self.X, self.Y, loss=self.loss)

    def hessian(self, theta):
        return self.net.hessian(theta, self.X, self.Y, loss=self.loss)


@dataclass
class Solution:
    """Saved times ``t`` (S,) and series of shape (S,) for one member or (E, S) for an ensemble.

    Members that stopped early (an event, a failure) have NaN after their last saved time; their final
    state is in ``theta``, ``t_final``, ``status``. ``theta_saved`` is θ at the saved times (S, P) or
    (E, S, P) when asked for; ``integrator_stats`` the method's own counts (Jacobians, switches), a dict per
    member. ``resume_state`` is the complete state as numpy arrays (``np.savez(path, **sol.resume_state)``),
    from which :meth:`resume` continues the run exactly.
    """

    t: np.ndarray
    loss: np.ndarray
    norm: np.ndarray
    grad_norm: np.ndarray
    align: np.ndarray
    dir_cos: np.ndarray
    n_grad_saved: np.ndarray
    theta: np.ndarray
    grad: np.ndarray
    t_final: np.ndarray
    loss_final: np.ndarray
    status: object
    n_steps: object
    n_rejected: object
    n_grad: object
    wall_time: float
    integrator: str
    findings: list = field(default_factory=list)
    verdict: object = None
    stop_reason: object = None  # per member, why the integration ended (sadbench.verdicts.decide.STOP_REASONS)
    resume_state: dict = field(default_factory=dict, repr=False)
    theta_saved: np.ndarray | None = field(default=None, repr=False)
    integrator_stats: object = None
    _context: tuple | None = field(default=None, repr=False, compare=False)

    def resume(self, t_end=None, **options):
        """Continue this run to ``t_end`` from where it stopped, as one uninterrupted run would have; the
        ``options`` are :func:`sadbench.integrate.resume`'s (budgets, new save times, detectors, backend)."""
        from sadbench.integrate import resume

        return resume(self, t_end, **options)

    @property
    def R(self):
        """R(t) (:func:`~sadbench.verdicts.observables.r_product`) at the saved points."""
        return r_product(self.norm, self.grad_norm)

    @property
    def grad_norm_final(self):
        return norms(self.grad)

    @property
    def norm_final(self):
        return norms(self.theta)

    @property
    def message(self):
        if isinstance(self.status, str):
            return STATUS_MESSAGES[self.status]
        return [STATUS_MESSAGES[s] for s in self.status]

    @property
    def ensemble_size(self):
        return 1 if self.theta.ndim == 1 else self.theta.shape[0]

    def member_trace(self, e=0, theta0=None, probe=None):
        """The :class:`Trace` of member ``e`` (saved points up to its stop)."""
        pick = (lambda a: a) if self.theta.ndim == 1 else (lambda a: a[e])
        loss = pick(self.loss)
        keep = np.isfinite(loss) | np.isfinite(pick(self.norm))
        status = self.status if isinstance(self.status, str) else self.status[e]
        return Trace(
            t=self.t[keep], loss=loss[keep], norm=pick(self.norm)[keep], grad_norm=pick(self.grad_norm)[keep],
            align=pick(self.align)[keep], dir_cos=pick(self.dir_cos)[keep], n_grad=pick(self.n_grad_saved)[keep],
            status=status, t_final=float(pick(self.t_final)), theta=pick(self.theta), grad=pick(self.grad),
            theta0=theta0, probe=probe, floor=0.0 if probe is None else probe.floor,
        )
