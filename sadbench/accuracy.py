"""Accuracy you can see: a tight-tolerance reference trajectory that records how it was computed, the error
of any run against it at the saved times, and work–precision data (error against cost over tolerances).
"""

import time
from dataclasses import dataclass, field, replace

import numpy as np

from sadbench.errors import SadbenchError
from sadbench.integrate import integrate
from sadbench.options import Save


@dataclass(frozen=True)
class Reference:
    """A reference trajectory at saved times ``t``: L, ||θ|| and θ (S, P); ``how`` records the integrator,
    tolerances, cost, status and, with a cross-check, the largest relative difference to a second method
    (an estimate of the reference's own error)."""

    t: np.ndarray
    loss: np.ndarray
    norm: np.ndarray
    theta: np.ndarray
    how: dict = field(default_factory=dict)


def _run_summary(sol):
    return {"integrator": sol.integrator, "status": sol.status, "n_steps": int(sol.n_steps),
            "n_grad": int(sol.n_grad), "wall_time": sol.wall_time, "stats": sol.integrator_stats}


def reference(net, theta0, X, Y, *, t_end, loss="mse", save="log", integrator="auto", rtol=1e-12, atol=1e-12,
              cross_check=None, max_wall=np.inf):
    """A reference trajectory of one parameter vector at tolerances ``rtol``, ``atol`` (default: ``auto``,
    which runs dopri5 where the flow is not stiff and BDF, its Jacobian a Lanczos model of the exact Hessian,
    where it is).

    ``save`` is as for :func:`~sadbench.integrate.integrate` (θ is always saved). ``cross_check`` names a
    second integrator run at the same tolerances; the largest relative difference of L and of θ between the
    two is recorded in ``how`` and bounds what the reference can certify.
    """
    theta0 = np.asarray(theta0, dtype=np.float64)
    if theta0.ndim != 1:
        raise SadbenchError("a reference is computed for one parameter vector (P,)")
    options = dict(loss=loss, t_end=t_end, save=replace(Save.of(save), theta=True), rtol=rtol, atol=atol,
                   detectors=None, max_wall=max_wall)
    sol = integrate(net, theta0, X, Y, integrator=integrator, **options)
    if sol.status != "success":
        raise SadbenchError(f"the reference run ended with status {sol.status!r}: {sol.message}")
    how = {**_run_summary(sol), "rtol": rtol, "atol": atol, "t_end": float(t_end)}
    ref = Reference(sol.t, sol.loss, sol.norm, sol.theta_saved, how)
    if cross_check is not None:
        other = integrate(net, theta0, X, Y, integrator=cross_check, **options)
        diff = errors(other, ref)
        how["cross_check"] = {**_run_summary(other), "max_rel_err_loss": diff["max_rel_err_loss"],
                              "max_rel_err_theta": diff["max_rel_err_theta"]}
    return ref


def errors(sol, ref):
    """Relative errors of one run against ``ref`` at the common saved times: of L, of ||θ||, and of θ when
    the run saved θ (``save=Save(..., theta=True)``); with their maxima and the number of agreeing digits."""
    if sol.ensemble_size != 1:
        raise SadbenchError("errors are measured for one member; pass a single-vector run")
    if sol.t.shape != ref.t.shape or not np.allclose(sol.t, ref.t, rtol=1e-12, atol=0.0):
        raise SadbenchError("the run and the reference must have the same save times")
    done = np.isfinite(sol.loss)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_loss = np.abs(sol.loss - ref.loss) / np.abs(ref.loss)
        rel_norm = np.abs(sol.norm - ref.norm) / np.abs(ref.norm)
        rel_theta = np.full(sol.t.shape, np.nan)
        if sol.theta_saved is not None:
            rel_theta = np.linalg.norm(sol.theta_saved - ref.theta, axis=1) / np.linalg.norm(ref.theta, axis=1)
    worst = lambda a: float(np.nanmax(a[done])) if done.any() and np.isfinite(a[done]).any() else np.nan
    out = {"t": sol.t, "rel_err_loss": rel_loss, "rel_err_norm": rel_norm, "rel_err_theta": rel_theta,
           "max_rel_err_loss": worst(rel_loss), "max_rel_err_norm": worst(rel_norm),
           "max_rel_err_theta": worst(rel_theta), "complete": bool(done.all())}
    out["digits"] = float(-np.log10(max(out["max_rel_err_loss"], out["max_rel_err_norm"], 1e-17)))
    return out


def _count(stats, key):
    """A count from a method's statistics, also where a switching method nests its partner's."""
    return int(stats.get(key, 0)) + sum(_count(v, key) for v in stats.values() if isinstance(v, dict))


def work_precision(net, theta0, X, Y, ref, *, integrators, rtols, atol_ratio=1e-3, loss="mse", repeats=1,
                   max_wall=np.inf):
    """Error against cost for each integrator over ``rtols`` (atol = ``atol_ratio``·rtol), on the save times
    of ``ref``. Each row: integrator, rtol, atol, status, gradient evaluations, Hessian evaluations and
    Hessian-vector products (from the method's statistics), best wall time of ``repeats`` and the maximal
    relative errors of L, ||θ|| and θ. The first call of each integrator is a warm-up (JIT compilation)."""
    rows = []
    options = dict(loss=loss, t_end=float(ref.t[-1]), save=Save(times=ref.t, theta=True), detectors=None,
                   max_wall=max_wall)
    for name in integrators:
        integrate(net, theta0, X, Y, integrator=name, **{**options, "t_end": ref.t[1], "save": ref.t[:2]})
        for rtol in rtols:
            best, sol = np.inf, None
            for _ in range(repeats):
                start = time.perf_counter()
                sol = integrate(net, theta0, X, Y, integrator=name, rtol=rtol, atol=atol_ratio * rtol, **options)
                best = min(best, time.perf_counter() - start)
            stats = sol.integrator_stats or {}
            err = errors(sol, ref)
            rows.append({
                "integrator": name, "rtol": rtol, "atol": atol_ratio * rtol, "status": sol.status,
                "n_steps": int(sol.n_steps), "n_grad": int(sol.n_grad),
                "n_hessian": _count(stats, "jacobian_evaluations"),
                "n_hvp": _count(stats, "hessian_vector_products"), "wall_time": best,
                "err_loss": err["max_rel_err_loss"], "err_norm": err["max_rel_err_norm"],
                "err_theta": err["max_rel_err_theta"],
            })
    return rows


def plot_work_precision(rows, path, title=""):
    """Error of L against gradient evaluations and against wall time, one line per integrator; writes
    ``path`` with the suffixes .png and .svg and returns the two paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from pathlib import Path

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for name in dict.fromkeys(r["integrator"] for r in rows):
        mine = [r for r in rows if r["integrator"] == name and r["status"] == "success"]
        err = [max(r["err_loss"], 1e-17) for r in mine]
        axes[0].loglog([r["n_grad"] for r in mine], err, "o-", label=name)
        axes[1].loglog([r["wall_time"] for r in mine], err, "o-", label=name)
    axes[0].set_xlabel("gradient evaluations")
    axes[1].set_xlabel("wall time [s]")
    axes[0].set_ylabel("max relative error of L at saved times")
    for ax in axes:
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend()
    fig.suptitle(title)
    fig.tight_layout()
    stem = Path(path).with_suffix("")
    paths = [stem.with_suffix(".png"), stem.with_suffix(".svg")]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths
