"""Organ values three ways (per-lesion medians, covariate model, truth) and their errors."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from lesionmap.growth import organ_effects


def frames(offset=0.3, squeeze=0.5, seed=0):
    rng = np.random.default_rng(seed)
    organs = np.repeat(["liver", "lung", "bone", "kidney"], 200)
    centre = {
        "liver": (-3.8, -2.2, -5.4),
        "lung": (-4.1, -1.6, -6.0),
        "bone": (-4.6, 0.3, -5.3),
        "kidney": (-5.1, -0.4, -5.3),
    }
    true_phi = np.array([centre[o] for o in organs]) + 0.5 * rng.standard_normal((len(organs), 3))
    ids = [f"L{i}" for i in range(len(organs))]
    truth = pd.DataFrame(
        {
            "lesion_id": ids,
            "organ": organs,
            "Kd": np.exp(true_phi[:, 0]),
            "F": expit(true_phi[:, 1]),
            "Kg": np.exp(true_phi[:, 2]),
        }
    )
    typical_phi = np.array([centre[o] for o in organs]) + offset  # every organ shifted alike
    typical = pd.DataFrame(
        {"Kd": np.exp(typical_phi[:, 0]), "F": expit(typical_phi[:, 1]), "Kg": np.exp(typical_phi[:, 2])},
        index=pd.Index(ids, name="lesion_id"),
    )
    grand = true_phi.mean(axis=0)
    shrunk = grand + squeeze * (true_phi - grand)  # per-lesion estimates pulled halfway to the population value
    estimates = pd.DataFrame(
        {
            "lesion_id": ids,
            "organ": organs,
            "Kd": np.exp(shrunk[:, 0]),
            "F": expit(shrunk[:, 1]),
            "Kg": np.exp(shrunk[:, 2]),
            "V0": 1000.0,
        }
    )
    return estimates, typical, truth


def test_a_shared_shift_is_a_level_error_not_an_effect_error():
    estimates, typical, truth = frames(offset=0.3)
    values = organ_effects.organ_values(estimates, typical, truth)
    errors = organ_effects.mean_absolute_errors(values).set_index(["source", "parameter"])
    covariate = errors.loc[("covariate model", "all")]
    assert covariate["mae_effect"] < 0.06  # only the sampling noise of the true organ means
    assert covariate["mae_level"] == pytest.approx(0.3, abs=0.06)
    assert errors.loc[("covariate model", "Kg"), "offset"] == pytest.approx(0.3, abs=0.06)
    # shrunk per-lesion medians squeeze the organ effects: a real effect error
    assert errors.loc[("per-lesion median", "all"), "mae_effect"] > 3 * covariate["mae_effect"]


def test_shrinkage_shows_as_a_flat_slope_and_correlations_come_per_source():
    estimates, typical, truth = frames(offset=0.0, squeeze=0.5)
    values = organ_effects.organ_values(estimates, typical, truth)
    slopes = organ_effects.shrinkage_bias(values).set_index(["parameter", "source"])["slope"]
    assert slopes[("Kd", "per-lesion median")] == pytest.approx(0.5, abs=0.1)
    assert slopes[("Kd", "covariate model")] == pytest.approx(1.0, abs=0.1)
    table = organ_effects.organ_correlations(values)
    assert set(table["source"]) == {"per-lesion median", "covariate model", "truth"}
    assert (
        organ_effects.baseline_volume_by_organ(values, estimates.assign(V0=np.arange(len(estimates)) + 1.0))["organs"]
        .eq(4)
        .all()
    )


def test_without_truth_there_is_nothing_to_score():
    estimates, typical, _ = frames()
    values = organ_effects.organ_values(estimates, typical, None)
    assert "truth" not in values
    with pytest.raises(ValueError, match="needs a 'truth' column"):
        organ_effects.mean_absolute_errors(values)
