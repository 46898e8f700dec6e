"""The organ x treatment frailty Cox model recovers organ-specific treatment effects it was simulated with."""

import numpy as np
import pandas as pd
import pytest

from lesionmap.survival.interaction import (
    grouped_treatment_effects,
    interaction_design,
    organ_treatment_interaction,
)

#: Log hazard ratio of TAR + Chemo against Chemo alone within each organ: TAR spares the skin.
TRUE_TAR_LOG_HR = {"abdomen": -0.7, "liver": -0.7, "lung": -0.7, "skin": 0.0}
ORGAN_LOG_HR = {"abdomen": 0.0, "liver": 0.5, "lung": -0.3, "skin": 0.2}


def _simulate(n_patients=900, seed=11):
    rng = np.random.default_rng(seed)
    organs = np.array(list(TRUE_TAR_LOG_HR))
    rows = []
    for i in range(n_patients):
        tar = i % 2 == 0
        frailty = rng.normal(0, np.sqrt(0.3))
        line = int(rng.random() < 0.3)
        for organ in rng.choice(organs, size=1 + rng.poisson(3), p=[0.25, 0.3, 0.25, 0.2]):
            log_hazard = ORGAN_LOG_HR[organ] + (TRUE_TAR_LOG_HR[organ] if tar else 0.0) + 0.3 * line + frailty
            time = rng.exponential(300 * np.exp(-log_hazard))
            censor = rng.uniform(100, 700)
            rows.append(
                {
                    "patient_id": f"p{i}",
                    "organ": organ,
                    "treatment_group": "TAR+Chemo" if tar else "Chemo alone",
                    "line": line,
                    "day": np.ceil(min(time, censor)),
                    "event": int(time <= censor),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def lesions():
    return _simulate()


def test_each_organ_gets_the_treatment_effect_it_was_simulated_with(lesions):
    result = organ_treatment_interaction(lesions, covariates=["line"], references={"organ": "abdomen"})
    effects = result.effects.set_index("organ")
    assert list(effects.index) == list(TRUE_TAR_LOG_HR)
    for organ, truth in TRUE_TAR_LOG_HR.items():
        estimate = np.log(effects.loc[organ, "hr"])
        se = (np.log(effects.loc[organ, "upper"]) - np.log(effects.loc[organ, "lower"])) / (2 * 1.96)
        assert abs(estimate - truth) < 3 * se, organ
    assert (effects.loc[["abdomen", "liver", "lung"], "verdict"] == "lower under TAR").all()
    assert effects.loc["skin", "verdict"] == "no clear difference"
    assert result.heterogeneity["p"] < 0.05 and result.heterogeneity["df"] == 3
    assert result.common["hr"] < 1 and result.excluded.empty
    assert effects[["events_treated", "events_control"]].sum().sum() == lesions["event"].sum()


def test_a_common_effect_shows_no_heterogeneity():
    lesions = _simulate(n_patients=600, seed=3)
    same = lesions.copy()
    rng = np.random.default_rng(0)
    # redraw the skin under the common effect: every organ now has log HR -0.7
    skin = same["organ"] == "skin"
    log_hazard = ORGAN_LOG_HR["skin"] + np.where(same.loc[skin, "treatment_group"] == "TAR+Chemo", -0.7, 0.0)
    time = rng.exponential(300 * np.exp(-log_hazard))
    same.loc[skin, "day"] = np.ceil(np.minimum(time, 400))
    same.loc[skin, "event"] = (time <= 400).astype(int)
    result = organ_treatment_interaction(same, references={"organ": "abdomen"})
    assert result.heterogeneity["p"] > 0.01


def test_organ_sets_compare_the_spared_organs_with_the_others(lesions):
    rows, comparison = grouped_treatment_effects(
        lesions,
        {"spared": ["skin"], "other organs": ["abdomen", "liver", "lung"]},
        covariates=["line"],
        references={"organ": "abdomen"},
    )
    table = rows.set_index("set")
    assert table.loc["other organs", "upper"] < 1 and table.loc["spared", "lower"] < 1 < table.loc["spared", "upper"]
    assert comparison["sets"] == ("spared", "other organs")
    assert comparison["lower"] < np.exp(0.7) < comparison["upper"] and comparison["p"] < 0.05
    with pytest.raises(ValueError, match="in no set"):
        grouped_treatment_effects(lesions, {"spared": ["skin"], "some": ["liver"]})


def test_organs_without_events_in_one_arm_are_left_out_and_listed(lesions):
    odd = lesions.copy()
    odd.loc[(odd["organ"] == "skin") & (odd["treatment_group"] == "TAR+Chemo"), "event"] = 0
    data, columns, excluded = interaction_design(odd)
    assert excluded["organ"].tolist() == ["skin"] and excluded["events_treated"].item() == 0
    assert "skin" not in set(data["organ"]) and columns == ["TAR in abdomen", "TAR in liver", "TAR in lung"]
    with pytest.raises(ValueError, match="one control level"):
        interaction_design(odd.assign(treatment_group="placebo"))
