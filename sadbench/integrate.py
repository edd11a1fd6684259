"""``sadbench.integrate``: the gradient flow θ' = -∇L(θ) of a network, for one vector or an ensemble, and
``resume``, which continues a run from its stored state as if it had never stopped."""

import inspect
import math

import numpy as np

from sadbench.errors import SadbenchError
from sadbench.model.data import check_values
from sadbench.model.network import Network, check_precision
from sadbench.options import OptionError, Save, StepControl, budgets, horizon, number, refuse_unknown, tolerances
from sadbench.options import backend as check_backend_name
from sadbench.solution import Probe, Solution
from sadbench.solvers import driver
from sadbench.solvers.chunked import RunState, compile_ahead, data_digest, run_chunks
from sadbench.solvers.schedule import save_times
from sadbench.verdicts.decide import DECIDED_CAP, UNTIL, UntilDecided, at_rounding_level, judge, stop_reason, with_stop

DEFAULT_DETECTORS = ("nonfinite", "norm_threshold", "critical_point", "divergence", "directional", "loss_limit")

#: integrate()'s arguments that define the method; a resumed run keeps the stored values.
METHOD_OPTIONS = ("loss", "integrator", "dt", "rtol", "atol", "step", "save", "precision")


def resolve_detectors(detectors, registry):
    """Detector instances from "default", None, or a list of names, ``{name: params}`` dicts or objects."""
    if detectors is None:
        return []
    if isinstance(detectors, str):
        detectors = DEFAULT_DETECTORS if detectors == "default" else [detectors]
    if not isinstance(detectors, (list, tuple)):
        raise OptionError("detectors", f"must be 'default', None or a list of detectors, got {detectors!r}")
    instances = []
    for item in detectors:
        if isinstance(item, str):
            instances.append((item, registry.get("detector", item)()))
        elif isinstance(item, dict):
            for name, params in item.items():
                if not isinstance(params, dict | None):
                    raise OptionError("detectors", f"{name!r}: parameters must be a mapping, got {params!r}")
                instances.append((name, registry.get("detector", name)(**(params or {}))))
        elif hasattr(item, "assess") and hasattr(item, "events"):
            instances.append((type(item).__name__, item))
        else:
            raise OptionError("detectors", f"an item must be a name, a {{name: params}} mapping or an object with "
                                           f"assess and events, got {item!r}")
    return instances


def _settings(integrator, dt, rtol, atol, step):
    s = np.zeros(driver.SETTINGS_SIZE)
    s[driver.RTOL], s[driver.ATOL] = rtol, atol
    s[driver.DT_MIN_], s[driver.DT_MAX] = step.dt_min, step.dt_max
    s[driver.FIXED_DT] = dt if dt is not None else 0.0
    s[driver.SAFETY], s[driver.FACTOR_MIN], s[driver.FACTOR_MAX] = step.safety, step.factor_min, step.factor_max
    s[driver.ERROR_ORDER] = integrator.error_order or 0
    s[driver.ORDER] = integrator.order
    s[driver.CONTROL] = 1.0 if integrator.step_control == "method" else 0.0
    return s


def _set_run_control(settings, max_steps, events):
    """The per-call settings: the step budget and the terminal events of this call's detectors."""
    settings[driver.MAX_STEPS_] = max_steps
    settings[driver.STOP_NORM_ABOVE] = min([e["stop_norm_above"] for e in events if "stop_norm_above" in e],
                                           default=np.inf)
    settings[driver.STOP_GRAD_BELOW] = max([e["stop_grad_below"] for e in events if "stop_grad_below" in e],
                                           default=0.0)


def _check_method(method, net, dt, step):
    """The first step (adaptive) or the step (fixed-step) ``dt``, checked against the method and ``step``."""
    if not method.adaptive and (dt is None or not _positive(dt)):
        raise OptionError("dt", f"must be a finite number > 0, got {dt!r} (integrator {method.name!r} is "
                                "fixed-step: give a positive dt)")
    if dt is not None:
        dt = number("dt", dt, 0.0, low_open=True)
    if method.adaptive:
        step.check_first_step(dt)
    if method.second_order and net.activation.d2f is None:
        raise SadbenchError(f"integrator {method.name!r} needs second derivatives; activation "
                            f"{net.activation.name!r} has no d2f")
    return dt


def _positive(value):
    try:
        number("", value, 0.0, low_open=True)
    except OptionError:
        return False
    return True


def _check_net(net):
    if not isinstance(net, Network):
        raise OptionError("net", f"must be a sadbench.Network, got {type(net).__name__}")


def _check_step(step):
    if step is None:
        return StepControl()
    if not isinstance(step, StepControl):
        raise OptionError("step", f"must be a sadbench.StepControl, got {step!r}")
    return step


def check_labels(loss_spec, Y):
    """A classification loss (``labels="sign"``) needs labels -1 or +1."""
    if loss_spec.labels == "sign":
        check_values("Y", Y, labels="sign", loss=loss_spec.name)


def integrate(net, theta0, X, Y, *, loss="mse", integrator="dopri5", t_end=None, rtol=1e-6, atol=1e-9, dt=None,
              step=None, save="log", detectors="default", max_steps=10_000_000, max_wall=math.inf, backend="cpu",
              precision="float64", cuda_layout="auto", resume=None, until=None, **unknown):
    """Integrate the gradient flow of ``loss`` for ``net`` from ``theta0`` (P,) or (E, P) to ``t_end`` (default 1).

    ``until="decided"`` integrates, decade after decade, until each member's verdict is decided (or its
    gradient reaches rounding level), up to ``t_end`` (default 1e16, cheap for the stiff integrators, whose
    steps grow with t) or the ``max_wall`` budget; each member stops on its own, and
    ``sol.stop_reason`` says why it stopped (:mod:`sadbench.verdicts.decide`).

    Fixed-step integrators need ``dt``; for adaptive ones ``dt`` is the first step (chosen automatically
    when omitted), and ``rtol``, ``atol`` and ``step`` (a :class:`~sadbench.options.StepControl`: ``dt_min``,
    ``dt_max``, ``safety``, ``factor_min``, ``factor_max``) control the steps. ``save`` says where the
    observables are recorded: a :class:`~sadbench.options.Save`, or as shorthand "log" (10 log-spaced times
    per decade from 0.01), "linear" or a sequence of times; every save time and t_end are hit exactly
    (a fixed step is shortened to reach them). ``detectors`` ("default", a list of names/``{name: params}``,
    or None) may end members early and yield ``sol.verdict``. ``max_steps`` (step attempts) and
    ``max_wall`` (seconds) bound this call; a run they end has status "max_steps" or "wall_time" and can be
    continued. Returns a :class:`~sadbench.solution.Solution`.

    ``resume=sol`` continues the run ``sol`` (a Solution or its ``resume_state``) to ``t_end`` instead of
    starting one; pass ``theta0=None`` (see :func:`resume`, and ``sol.resume(t_end=...)``).

    ``backend="cuda"`` runs explicit Runge–Kutta integrators on an NVIDIA GPU (:mod:`sadbench.cuda`, which
    needs ``pip install "sadbench[cuda]"``; ``cuda_layout`` "thread", "block" or "auto" picks one thread or
    one block per member); the results are the CPU backend's to rounding.

    ``precision="float32"`` computes the gradient passes in float32 arithmetic (θ rounded to float32 for each
    gradient, ∇L widened to float64); the state, the step control and the observables stay float64. It is
    CPU-only and has no second-order passes, so it refuses the stiff integrators (bdf, rkc, ros34pw2, auto).

    Every argument is checked before anything runs; a bad one raises
    :class:`~sadbench.options.OptionError` (a :class:`~sadbench.errors.SadbenchError`) naming it and its
    allowed values.
    """
    refuse_unknown("integrate", unknown, _INTEGRATE_KEYWORDS)
    if isinstance(theta0, (Solution, dict)):
        raise OptionError("theta0", "is the initial parameters; to continue a run pass resume=sol (with "
                                    "theta0=None) or call sol.resume(t_end=...)")
    if resume is not None:
        if theta0 is not None:
            raise OptionError("theta0", "must be None with resume=: the run continues from its stored state")
        given = {name: value for name, value in locals().items() if name in METHOD_OPTIONS}
        save = _check_resume_options(resume, given)
        return _continue(resume, t_end, net=net, X=X, Y=Y, max_steps=max_steps, max_wall=max_wall, save=save,
                         detectors=detectors, integrator=None if isinstance(integrator, str) else integrator,
                         backend=backend, cuda_layout=cuda_layout, until=until)
    _check_net(net)
    registry = net.registry
    method = registry.get("integrator", integrator)
    loss_spec = registry.get("loss", loss)
    until = _check_until(until)
    t_end = horizon("t_end", (DECIDED_CAP if until else 1.0) if t_end is None else t_end)
    rtol, atol = tolerances(rtol, atol)
    step = _check_step(step)
    dt = _check_method(method, net, dt, step)
    save = Save.of(save)
    max_steps, max_wall = budgets(max_steps, max_wall)
    _check_backend(backend, method)
    _check_precision(precision, method, backend)
    X, Y = net.check_data(X, Y)
    check_labels(loss_spec, Y)
    thetas, single = net.check_theta(theta0, "theta0")
    detector_instances = resolve_detectors(detectors, registry)
    n_members, P = thetas.shape
    times = save_times(save.grid, t_end, save.per_decade, save.t_first, None if method.adaptive else dt)
    states = np.zeros((n_members, driver.STATE_SIZE))
    states[:, driver.ERR_PREV] = 1e-4
    if method.adaptive and dt is not None:
        states[:, driver.H] = dt
    state = RunState(
        integrator=method.name, loss=loss_spec.name, widths=np.array(net.widths), activation=net.activation.name,
        bias=net.bias, data=data_digest(X, Y), single=single,
        schedule=save.schedule or "explicit", per_decade=float(save.per_decade or 0),
        t_first=math.nan if save.t_first is None else float(save.t_first),
        settings=_settings(method, dt, rtol, atol, step),
        times=times, out=np.full((n_members, times.size, len(driver.OBSERVABLES)), np.nan),
        snapshots=np.zeros((n_members, times.size, P) if save.theta else (n_members, 0, 0)),
        theta0=thetas.copy(), thetas=thetas.copy(), grads=np.zeros_like(thetas), anchors=np.zeros_like(thetas),
        method_work=np.zeros((n_members, 2 * P + int(method.work_size(P)))), states=states,
        precision=precision,
    )
    return _run(net, X, Y, method, loss_spec, state, max_steps, max_wall, detector_instances, backend, cuda_layout,
                until)


def _check_until(until):
    if until is not None and until not in UNTIL:
        raise OptionError("until", f"must be None or one of {', '.join(map(repr, UNTIL))}, got {until!r}")
    return until


_INTEGRATE_KEYWORDS = tuple(inspect.signature(integrate).parameters)[4:-1]


def resume(source, t_end=None, *, net=None, X=None, Y=None, max_steps=10_000_000, max_wall=math.inf, save=None,
           detectors="default", integrator=None, backend="cpu", cuda_layout="auto", until=None, **unknown):
    """Continue a run to ``t_end`` (default: its own horizon, to finish a run that a budget ended).

    ``source`` is a Solution (which remembers its network and data) or its ``resume_state`` dict, possibly
    saved with ``np.savez(path, **sol.resume_state)`` and loaded with ``dict(np.load(path))`` (then give
    ``net``, ``X``, ``Y``). Members that ended with "success", "max_steps" or "wall_time" continue from
    exactly where they stopped (θ, t, step size, controller and method state); the others stay stopped.
    New save times follow the stored schedule, or ``save`` (times after the last one, as a sequence or a
    ``Save(times=...)``). The returned Solution holds the whole series, from t = 0, as one uninterrupted run
    would. ``integrator`` is only needed for a run made with an unregistered Integrator object: pass that
    object again. ``backend`` may differ from the stored run's: the state is the same on both. The run keeps
    its stored method options and ``precision``. ``until="decided"`` continues until the verdict is decided,
    up to ``t_end`` (default 1e16), as in :func:`integrate`.
    """
    refuse_unknown("resume", unknown, _RESUME_KEYWORDS)
    return _continue(source, t_end, net=net, X=X, Y=Y, max_steps=max_steps, max_wall=max_wall, save=save,
                     detectors=detectors, integrator=integrator, backend=backend, cuda_layout=cuda_layout,
                     until=until)


_RESUME_KEYWORDS = tuple(inspect.signature(resume).parameters)[1:-1]


def _continue(source, t_end, *, net, X, Y, max_steps, max_wall, save, detectors, integrator, backend, cuda_layout,
              until=None):
    if isinstance(source, Solution):
        if source._context is not None:
            net = net if net is not None else source._context[0]
            X = X if X is not None else source._context[1]
            Y = Y if Y is not None else source._context[2]
        source = source.resume_state
    if not isinstance(source, dict):
        raise OptionError("resume", f"must be a Solution or its resume_state dict, got {type(source).__name__}")
    if net is None or X is None or Y is None:
        raise SadbenchError("resuming a stored state needs net, X and Y")
    _check_net(net)
    state = RunState.from_dict(source)
    method = net.registry.get("integrator", state.integrator if integrator is None else integrator)
    if method.name != state.integrator:
        raise SadbenchError(f"the stored run used integrator {state.integrator!r}, not {method.name!r}")
    loss_spec = net.registry.get("loss", state.loss)
    max_steps, max_wall = budgets(max_steps, max_wall)
    new_save = None if save is None else Save.of(save)
    if new_save is not None and new_save.times is None:
        raise OptionError("save", "of a continued run follows its stored schedule; give only new times, save=[...]")
    _check_backend(backend, method)
    _check_precision(state.precision, method, backend)
    X, Y = net.check_data(X, Y)
    state.check_matches(net, X, Y, loss_spec.name)
    until = _check_until(until)
    if t_end is None:
        t_end = max(state.times[-1], DECIDED_CAP) if until else state.times[-1]
    t_end = horizon("t_end", t_end)
    new_times = _continued_times(state, t_end, None if new_save is None else new_save.times, method)
    detector_instances = resolve_detectors(detectors, net.registry)
    if new_times.size:
        E, S = state.out.shape[:2]
        state.times = np.concatenate([state.times, new_times])
        state.out = np.concatenate([state.out, np.full((E, new_times.size, state.out.shape[2]), np.nan)], axis=1)
        if state.snapshots.shape[1] > 0:
            extra = np.zeros((E, new_times.size, state.snapshots.shape[2]))
            state.snapshots = np.concatenate([state.snapshots, extra], axis=1)
    status = state.states[:, driver.STATUS]
    status[np.isin(status, driver.RESUMABLE)] = driver.RUNNING
    return _run(net, X, Y, method, loss_spec, state, max_steps, max_wall, detector_instances, backend, cuda_layout,
                until)


def _continued_times(state, t_end, save, method):
    """Save times after the stored run's last one, up to ``t_end``, on the stored schedule."""
    last = state.times[-1]
    if t_end < last:
        raise SadbenchError(f"t_end {t_end:g} is before the stored run's last save time {last:g}")
    if t_end == last:
        return np.zeros(0)
    dt = None if method.adaptive else state.settings[driver.FIXED_DT]
    if save is not None:
        grid = np.asarray(save, dtype=np.float64).ravel()
        if np.any(np.diff(grid) <= 0) or (grid.size and (grid[0] <= last or grid[-1] > t_end)):
            raise SadbenchError(f"save times must increase strictly, after {last:g} and up to t_end {t_end:g}")
    elif state.schedule == "log":
        t_first = None if math.isnan(state.t_first) else state.t_first
        grid = save_times("log", t_end, state.per_decade, t_first, dt)
    elif state.schedule == "linear":
        spacing = state.times[-1] / int(state.per_decade)
        grid = last + spacing * np.arange(1, math.ceil((t_end - last) / spacing - 1e-9) + 1)
    else:
        raise SadbenchError("the stored run saved at explicit times: give the new ones with save=[...]")
    grid = grid[grid > last * (1.0 + 1e-9)]
    grid = grid[grid < t_end * (1.0 - 1e-12)]
    return np.concatenate([grid, [t_end]])


def _check_resume_options(source, given):
    """A resumed run keeps its method options: refuse one that is passed and differs from the stored one.
    Returns the new save times to pass on (a ``save=`` of times), or None."""
    state = source.resume_state if isinstance(source, Solution) else source
    if not isinstance(state, dict):
        raise OptionError("resume", f"must be a Solution or its resume_state dict, got {type(source).__name__}")
    settings = np.asarray(state["settings"])
    stored = {
        "loss": str(state["loss"]), "integrator": str(state["integrator"]),
        "dt": settings[driver.FIXED_DT] or None, "rtol": settings[driver.RTOL], "atol": settings[driver.ATOL],
        "step": StepControl(settings[driver.DT_MIN_], settings[driver.DT_MAX], settings[driver.SAFETY],
                            settings[driver.FACTOR_MIN], settings[driver.FACTOR_MAX]),
        "precision": str(state.get("precision", "float64")),
    }
    given_save = given.pop("save")
    keeps_stored = isinstance(given_save, str) and given_save == "log"  # the default: the stored Save goes on
    save = Save.of(given_save)
    theta_stored = np.asarray(state["snapshots"]).shape[1] > 0
    if not keeps_stored and save.theta != theta_stored:
        raise OptionError("save", f"must keep theta={theta_stored}: a resumed run keeps its stored Save; got "
                                  f"theta={save.theta}")
    if save.times is None and save.schedule != "log" and save.schedule != str(state["schedule"]):
        raise OptionError("save", f"must keep the schedule {str(state['schedule'])!r}: a resumed run keeps its "
                                  f"stored schedule; got {save.schedule!r}")
    defaults = inspect.signature(integrate).parameters
    for name, value in given.items():
        if not _same(value, defaults[name].default) and not _same(value, stored[name]):
            raise OptionError(name, f"must stay {stored[name]!r}: a resumed run keeps its stored {name}; got {value!r}")
    return None if save.times is None else save.times


def _same(a, b):
    if isinstance(a, (str, bool, type(None), StepControl)) or isinstance(b, (str, bool, type(None), StepControl)):
        return a == b or getattr(a, "name", a) == b
    try:
        return float(a) == float(b)
    except (TypeError, ValueError):
        return False


def _check_backend(backend, method):
    """Refuse an unknown backend, and CUDA where it cannot run (no numba-cuda, no GPU, or no CUDA kernel for
    the method)."""
    if check_backend_name(backend) == "cuda":
        from sadbench import cuda  # the only module that imports numba.cuda: loaded on demand

        cuda.require()
        cuda.check_method(method)


def _check_precision(precision, method, backend):
    """Refuse an unknown precision, and float32 where it cannot run: stiff methods, the GPU."""
    if check_precision(precision) == "float64":
        return
    if method.second_order or method.stiff:  # auto's stiff partners need them too
        raise SadbenchError(f"integrator {method.name!r} uses Hessian-vector products, which precision "
                            f"'float32' does not compute; use precision='float64'")
    if backend == "cuda":
        raise SadbenchError("backend 'cuda' computes in float64 only; precision 'float32' runs on backend='cpu'")


def _run(net, X, Y, method, loss_spec, state, max_steps, max_wall, detector_instances, backend="cpu",
         cuda_layout="auto", until=None):
    """Run the chunk loop on ``state`` and turn the result into a Solution with findings, verdicts and, per
    member, why it stopped. With ``until="decided"`` one stop hook judges all detectors together.

    Host-side arithmetic on overflowed values (a detector's ratio of infinities) is quiet: a member that
    overflowed says so in its status ("nonfinite"), not in RuntimeWarnings."""
    probe = Probe(net, X, Y, loss_spec.name)
    with np.errstate(all="ignore"):
        sol = _advance(net, X, Y, method, loss_spec, state, max_steps, max_wall, detector_instances, probe,
                       backend, cuda_layout, until)
        _assess(sol, state, detector_instances, probe)
    return sol


def _advance(net, X, Y, method, loss_spec, state, max_steps, max_wall, detector_instances, probe, backend,
             cuda_layout, until):
    """The chunk loop of ``backend`` on ``state``, then a Solution viewing it."""
    n_members = state.thetas.shape[0]
    _set_run_control(state.settings, max_steps, [d.events() for _, d in detector_instances])
    state.states[:, driver.STEP_BASE] = state.states[:, driver.N_STEPS] + state.states[:, driver.N_REJECTED]
    kernels = net.kernels(loss_spec, state.precision)
    widths, bias, work = net.problem_arrays(X, n_members)
    stoppers = [d for _, d in detector_instances if callable(getattr(d, "stop", None))]
    if until == "decided":
        stoppers = [UntilDecided(detector_instances)]

    def traces():
        view = _solution(state, method, 0.0, stats=False)
        return lambda e: view.member_trace(e, theta0=state.theta0[e], probe=probe)

    if backend == "cuda":
        from sadbench import cuda

        wall = cuda.run_chunks(state, method, net, loss_spec, X, Y, max_wall, stoppers, traces, cuda_layout)
    else:
        compile_ahead(method)  # a first run compiles the method's step on a second core meanwhile
        functions = kernels.functions_for(method.stiff or method.second_order)  # else no Hessian code compiles
        wall = run_chunks(state, method, functions, X, Y, widths, bias, work, max_wall, stoppers, traces)
    sol = _solution(state, method, wall, stats=True)
    sol.resume_state = state.to_dict()
    sol._context = (net, X, Y)
    return sol


def _assess(sol, state, detector_instances, probe):
    """Each member's findings (a detector that raises is named), verdict and why it stopped, into ``sol``."""
    findings, verdicts, reasons = [], [], []
    for e in range(state.thetas.shape[0]):
        trace = sol.member_trace(e, theta0=state.theta0[e], probe=probe)
        verdict, member = judge(trace, detector_instances, member=e)
        status = driver.STATUS_NAMES[int(state.states[e, driver.STATUS])]
        reasons.append(stop_reason(status, verdict, status == "detector" and at_rounding_level(trace)))
        verdicts.append(with_stop(verdict, reasons[-1]))
        findings.append(member)
    pick = (lambda items: items[0]) if state.single else (lambda items: items)
    sol.findings, sol.verdict, sol.stop_reason = pick(findings), pick(verdicts), pick(reasons)


def _solution(state, method, wall, stats):
    """A Solution viewing the arrays of ``state``; ``stats`` adds the method's ``describe`` of each member."""
    states, out = state.states, state.out
    squeeze = (lambda a: a[0]) if state.single else (lambda a: a)
    status = [driver.STATUS_NAMES[int(s)] for s in states[:, driver.STATUS]]
    counts = lambda col: squeeze(states[:, col].astype(np.int64))
    P = state.thetas.shape[1]
    described = None
    if stats and method.describe is not None:
        described = squeeze([method.describe(row[2 * P :]) for row in state.method_work])
    return Solution(
        t=state.times,
        **{name: squeeze(out[:, :, q]) for q, name in enumerate(driver.OBSERVABLES) if name not in ("n_grad", "n_steps")},
        n_grad_saved=squeeze(out[:, :, driver.Q_N_GRAD]),
        theta=squeeze(state.thetas), grad=squeeze(-state.grads),
        t_final=squeeze(states[:, driver.T]), loss_final=squeeze(states[:, driver.LOSS]),
        status=status[0] if state.single else np.array(status),
        n_steps=counts(driver.N_STEPS), n_rejected=counts(driver.N_REJECTED), n_grad=counts(driver.N_GRAD),
        wall_time=wall, integrator=method.name,
        theta_saved=squeeze(state.snapshots) if state.snapshots.shape[1] > 0 else None,
        integrator_stats=described,
    )
