"""The naive comparator: one least-squares fit per series (``lesionmap.growth.naive``)."""

import numpy as np
import pandas as pd
from scipy.optimize import approx_fprime

from lesionmap.growth.model import predict_volume
from lesionmap.growth.naive import fit_each_series, log_model_residuals


def test_the_analytic_jacobian_is_the_derivative_of_the_residuals():
    t = np.array([0.0, 42.0, 84.0, 168.0, 336.0, 700.0])
    log_y = np.log(np.linspace(900.0, 1500.0, len(t)))
    for phi in (np.log([0.02, 0.2 / 0.8, 0.004]), np.array([1.5, 9.0, 1.8]), np.array([-11.0, -11.0, -11.0])):
        analytic = log_model_residuals(phi, t, log_y, np.log(1000.0), jacobian=True)
        numeric = np.column_stack(
            [
                approx_fprime(phi, lambda p, i=i: log_model_residuals(p, t, log_y, np.log(1000.0))[i], 1e-7)
                for i in range(len(t))
            ]
        ).T
        np.testing.assert_allclose(analytic, numeric, rtol=1e-4, atol=1e-5)
        assert np.all(np.isfinite(log_model_residuals(phi, t, log_y, np.log(1000.0))))  # steep points overflow nowhere


def test_a_well_sampled_noiseless_series_gives_back_its_parameters_and_a_short_one_is_flagged():
    truth = {"Kd": 0.03, "F": 0.2, "Kg": 0.006}
    days = np.arange(0.0, 400.0, 28.0)
    volume = predict_volume(days, 2000.0, truth["Kd"], truth["F"], truth["Kg"])
    frame = pd.DataFrame({"lesion_id": "L1", "day": days, "volume_mm3": volume, "blq": False})
    short = frame.iloc[:2].assign(lesion_id="L2")
    fits = fit_each_series(pd.concat([frame, short]))
    assert fits.loc["L1", "converged"] and not fits.loc["L2", "converged"]
    for name, value in truth.items():
        np.testing.assert_allclose(fits.loc["L1", name], value, rtol=1e-4)
