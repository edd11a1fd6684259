"""Reference trajectories, errors against them, and work–precision data, checked against scipy's Radau."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import sadbench
from sadbench.accuracy import errors, plot_work_precision, reference, work_precision
from test_stiff import flow_for_scipy

T_END = 1e3


@pytest.fixture(scope="module")
def case():
    net = sadbench.Network([1, 4, 1], activation="tanh")
    X = np.linspace(-1, 1, 32)[:, None]
    return net, X, X**2, net.init(seed=0)


@pytest.fixture(scope="module")
def ref(case):
    net, X, Y, theta0 = case
    return reference(net, theta0, X, Y, t_end=T_END, save=sadbench.Save(per_decade=4), cross_check="bdf")


def test_reference_records_how_it_was_computed(ref, case):
    net, X, Y, _ = case
    how = ref.how
    assert how["integrator"] == "auto" and how["rtol"] == 1e-12 and how["status"] == "success"
    assert how["n_grad"] > 0 and how["t_end"] == T_END and "steps" in how["stats"]
    assert how["cross_check"]["integrator"] == "bdf"
    assert how["cross_check"]["max_rel_err_loss"] < 1e-8 and how["cross_check"]["max_rel_err_theta"] < 1e-9
    assert ref.theta.shape == (ref.t.size, net.num_params)
    losses = [net.loss_and_grad(theta, X, Y)[0] for theta in ref.theta]
    np.testing.assert_allclose(losses, ref.loss, rtol=1e-13)


def test_reference_agrees_with_scipy_radau(ref, case):
    net, X, Y, theta0 = case
    fun, jac = flow_for_scipy(net, X, Y)
    radau = solve_ivp(fun, (0, T_END), theta0, method="Radau", t_eval=ref.t, rtol=1e-12, atol=1e-14, jac=jac)
    deviation = np.linalg.norm(radau.y.T - ref.theta, axis=1) / np.linalg.norm(ref.theta, axis=1)
    assert deviation.max() < 1e-9


def test_errors_of_a_run_shrink_with_its_tolerance(ref, case):
    net, X, Y, theta0 = case
    save = sadbench.Save(times=ref.t, theta=True)
    runs = {rtol: sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=T_END, rtol=rtol, atol=1e-3 * rtol,
                                     save=save, detectors=None) for rtol in (1e-4, 1e-9)}
    loose, tight = errors(runs[1e-4], ref), errors(runs[1e-9], ref)
    for key in ("max_rel_err_loss", "max_rel_err_norm", "max_rel_err_theta"):
        assert 0 < tight[key] < loose[key], key
    assert tight["max_rel_err_loss"] < 1e-6 and tight["digits"] > 6 and tight["complete"]
    assert tight["rel_err_loss"].shape == ref.t.shape
    without_theta = sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=T_END, save=ref.t, detectors=None)
    assert np.isnan(errors(without_theta, ref)["max_rel_err_theta"])
    other_times = sadbench.integrate(net, theta0, X, Y, integrator="bdf", t_end=T_END, detectors=None)
    with pytest.raises(sadbench.SadbenchError, match="same save times"):
        errors(other_times, ref)


def test_work_precision_data_and_plot(ref, case, tmp_path):
    net, X, Y, theta0 = case
    rows = work_precision(net, theta0, X, Y, ref, integrators=["bdf", "dopri5"], rtols=[1e-5, 1e-9])
    assert [(r["integrator"], r["rtol"]) for r in rows] == [("bdf", 1e-5), ("bdf", 1e-9), ("dopri5", 1e-5),
                                                             ("dopri5", 1e-9)]
    for loose, tight in (rows[:2], rows[2:]):
        assert tight["err_loss"] < loose["err_loss"] and tight["n_grad"] > loose["n_grad"]
        assert loose["status"] == tight["status"] == "success" and tight["wall_time"] > 0
    assert rows[1]["n_hessian"] >= 1 and rows[3]["n_hessian"] == 0
    png, svg = plot_work_precision(rows, tmp_path / "wp", title="tanh 1-4-1 on x²")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()[:1000]
