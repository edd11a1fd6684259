"""What an integration returns: saved time series, final state, counts, status and verdicts."""

from dataclasses import dataclass, field

import numpy as np

from sadbench.driver import STATUS_MESSAGES


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

    @property
    def R(self):
        """R(t) = ||θ||·||∇L||, which tends to 0 on the divergent branch (SCIENCE.md §2)."""
        return self.norm * self.grad_norm


@dataclass
class Solution:
    """Saved times ``t`` (S,) and series of shape (S,) for one member or (E, S) for an ensemble.

    Members that stopped early (an event, a failure) have NaN after their last saved time; their final
    state is in ``theta``, ``t_final``, ``status``.
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
    resume_state: dict = field(default_factory=dict, repr=False)

    @property
    def R(self):
        return self.norm * self.grad_norm

    @property
    def grad_norm_final(self):
        return np.linalg.norm(self.grad, axis=-1)

    @property
    def norm_final(self):
        return np.linalg.norm(self.theta, axis=-1)

    @property
    def message(self):
        if isinstance(self.status, str):
            return STATUS_MESSAGES[self.status]
        return [STATUS_MESSAGES[s] for s in self.status]

    @property
    def ensemble_size(self):
        return 1 if self.theta.ndim == 1 else self.theta.shape[0]

    def member_trace(self, e=0):
        """The :class:`Trace` of member ``e`` (saved points up to its stop)."""
        pick = (lambda a: a) if self.theta.ndim == 1 else (lambda a: a[e])
        loss = pick(self.loss)
        keep = np.isfinite(loss) | np.isfinite(pick(self.norm))
        status = self.status if isinstance(self.status, str) else self.status[e]
        return Trace(
            t=self.t[keep], loss=loss[keep], norm=pick(self.norm)[keep], grad_norm=pick(self.grad_norm)[keep],
            align=pick(self.align)[keep], dir_cos=pick(self.dir_cos)[keep], n_grad=pick(self.n_grad_saved)[keep],
            status=status, t_final=float(pick(self.t_final)), theta=pick(self.theta), grad=pick(self.grad),
        )
