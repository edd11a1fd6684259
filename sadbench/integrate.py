"""``sadbench.integrate``: the gradient flow θ' = -∇L(θ) of a network, for one vector or an ensemble."""

import time

import numpy as np

from sadbench import driver
from sadbench.errors import SadbenchError
from sadbench.schedule import save_times
from sadbench.solution import Solution
from sadbench.verdict import combine

DEFAULT_DETECTORS = ("nonfinite", "norm_threshold", "critical_point", "r_product")


def resolve_detectors(detectors, registry):
    """Detector instances from "default", None, or a list of names, ``{name: params}`` dicts or objects."""
    if detectors is None:
        return []
    if isinstance(detectors, str):
        detectors = DEFAULT_DETECTORS if detectors == "default" else [detectors]
    instances = []
    for item in detectors:
        if isinstance(item, str):
            instances.append((item, registry.get("detector", item)()))
        elif isinstance(item, dict):
            for name, params in item.items():
                instances.append((name, registry.get("detector", name)(**(params or {}))))
        elif hasattr(item, "assess") and hasattr(item, "events"):
            instances.append((type(item).__name__, item))
        else:
            raise SadbenchError(f"a detector must be a name, a {{name: params}} mapping or an object, got {item!r}")
    return instances


def _settings(integrator, dt, rtol, atol, dt_min, dt_max, max_steps, safety, factor_min, factor_max, events):
    s = np.zeros(driver.SETTINGS_SIZE)
    s[driver.RTOL], s[driver.ATOL] = rtol, atol
    s[driver.DT_MIN_], s[driver.DT_MAX] = dt_min, dt_max
    s[driver.MAX_STEPS_] = max_steps
    s[driver.FIXED_DT] = dt if dt is not None else 0.0
    s[driver.STOP_NORM_ABOVE] = min([e["stop_norm_above"] for e in events if "stop_norm_above" in e], default=np.inf)
    s[driver.STOP_GRAD_BELOW] = max([e["stop_grad_below"] for e in events if "stop_grad_below" in e], default=0.0)
    s[driver.SAFETY], s[driver.FACTOR_MIN], s[driver.FACTOR_MAX] = safety, factor_min, factor_max
    s[driver.ERROR_ORDER] = integrator.error_order or 0
    s[driver.ORDER] = integrator.order
    return s


def integrate(net, theta0, X, Y, *, loss="mse", integrator="dopri5", t_end=1.0, dt=None, rtol=1e-6,
              atol=1e-9, dt_min=0.0, dt_max=np.inf, max_steps=10_000_000, save="log", save_per_decade=10,
              t_first=None, detectors="default", safety=0.9, factor_min=0.2, factor_max=10.0):
    """Integrate the gradient flow of ``loss`` for ``net`` from ``theta0`` (P,) or (E, P) to ``t_end``.

    Fixed-step integrators need ``dt``; for adaptive ones ``dt`` is the first step (chosen automatically
    when omitted). ``save`` is "log" (``save_per_decade`` log-spaced times from ``t_first``), "linear" or
    an array of times, hit exactly. ``detectors`` ("default", a list of names/``{name: params}``, or None)
    may end members early and yield ``sol.verdict``. Returns a :class:`~sadbench.solution.Solution`.
    """
    registry = net.registry
    method = registry.get("integrator", integrator)
    loss_spec = registry.get("loss", loss)
    if method.adaptive:
        if dt is not None and not dt > 0:
            raise SadbenchError(f"dt must be positive, got {dt}")
    elif dt is None or not dt > 0:
        raise SadbenchError(f"integrator {method.name!r} is fixed-step: give a positive dt")
    X, Y = net.check_data(X, Y)
    thetas, single = net.check_theta(theta0)
    thetas = thetas.copy()
    n_members, P = thetas.shape
    times = save_times(save, t_end, save_per_decade, t_first, None if method.adaptive else dt)
    detector_instances = resolve_detectors(detectors, registry)

    kernels = net.kernels(loss_spec)
    widths, bias, work = net.problem_arrays(X, n_members)
    settings = _settings(method, dt, rtol, atol, dt_min, dt_max, max_steps, safety, factor_min, factor_max,
                         [d.events() for _, d in detector_instances])
    states = np.zeros((n_members, driver.STATE_SIZE))
    states[:, driver.ERR_PREV] = 1e-4
    if method.adaptive and dt is not None:
        states[:, driver.H] = dt
    grads = np.zeros_like(thetas)
    anchors = np.zeros_like(thetas)
    method_work = np.zeros((n_members, 2 * P + max(method.work_size(P), 2 * P)))
    out = np.full((n_members, times.size, len(driver.OBSERVABLES)), np.nan)

    start = time.perf_counter()
    driver.integrate_ensemble(kernels.functions, method.attempt, X, Y, widths, bias, work, method.params, thetas,
                              grads, anchors, method_work, times, settings, states, out)
    wall = time.perf_counter() - start

    status = [driver.STATUS_NAMES[int(s)] for s in states[:, driver.STATUS]]
    squeeze = (lambda a: a[0]) if single else (lambda a: a)
    counts = lambda col: squeeze(states[:, col].astype(np.int64))
    sol = Solution(
        t=times,
        **{name: squeeze(out[:, :, q]) for q, name in enumerate(driver.OBSERVABLES) if name not in ("n_grad", "n_steps")},
        n_grad_saved=squeeze(out[:, :, driver.Q_N_GRAD]),
        theta=squeeze(thetas), grad=squeeze(-grads),
        t_final=squeeze(states[:, driver.T]), loss_final=squeeze(states[:, driver.LOSS]),
        status=status[0] if single else np.array(status),
        n_steps=counts(driver.N_STEPS), n_rejected=counts(driver.N_REJECTED), n_grad=counts(driver.N_GRAD),
        wall_time=wall, integrator=method.name,
    )
    findings = []
    for e in range(n_members):
        trace = sol.member_trace(e)
        member = []
        for name, detector in detector_instances:
            finding = detector.assess(trace)
            if finding is not None:
                member.append(finding)
        findings.append(member)
    verdicts = [combine(member, float(states[e, driver.T])) for e, member in enumerate(findings)]
    sol.findings = findings[0] if single else findings
    sol.verdict = verdicts[0] if single else verdicts
    return sol
