"""The wrappers of lesionmap.stats against direct scipy / scikit-posthocs / lifelines calls and hand formulas."""

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.statistics import logrank_test, multivariate_logrank_test
from lifelines.utils import concordance_index
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests

from lesionmap.stats import (
    by_stratum,
    chi_square,
    contingency,
    dunn,
    group_concordance,
    group_risks,
    km_curve,
    km_medians,
    km_on_grid,
    kruskal,
    logrank,
    mann_whitney,
    mann_whitney_groups,
    pearson,
)


@pytest.fixture
def survival():
    """Three groups with exponential survival (medians 200, 400, 800 days) and uniform censoring."""
    rng = np.random.default_rng(7)
    medians = {"short": 200.0, "middle": 400.0, "long": 800.0}
    group = np.repeat(list(medians), 60)
    times = rng.exponential(np.array([medians[g] for g in group]) / np.log(2)).round()
    censor = rng.uniform(0, 1200, size=len(group)).round()
    return pd.DataFrame({"os_days": np.minimum(times, censor), "os_event": times <= censor, "group": group})


def test_km_medians_match_lifelines(survival):
    table = km_medians(survival, group="group").set_index("group")
    assert list(table.index) == ["long", "middle", "short"]
    for level, part in survival.groupby("group"):
        fitter = KaplanMeierFitter().fit(part["os_days"], part["os_event"])
        assert table.loc[level, "median"] == fitter.median_survival_time_
        assert table.loc[level, ["n", "events"]].tolist() == [len(part), part["os_event"].sum()]
        band = fitter.confidence_interval_
        crossing = [band.index[(band.iloc[:, j] <= 0.5).to_numpy()] for j in (0, 1)]
        expected = [c[0] if len(c) else np.inf for c in crossing]  # first time each band reaches 0.5
        assert table.loc[level, ["ci_lower", "ci_upper"]].tolist() == expected
        assert expected[0] <= table.loc[level, "median"] <= expected[1]
    assert table.loc["short", "median"] < table.loc["middle", "median"] < table.loc["long", "median"]
    overall = km_medians(survival)
    assert overall["group"].tolist() == ["all"] and overall.loc[0, "n"] == len(survival)


def test_km_on_grid_reads_the_step_function_every_step_days(survival):
    frame = pd.DataFrame({"days": [5.0, 10.0, 10.0, 20.0], "event": [1, 1, 0, 1], "group": ["a"] * 4})
    curve = km_on_grid(frame, "days", "event", "group", step=5, horizon=20)
    assert curve["time"].tolist() == [0.0, 5.0, 10.0, 15.0, 20.0]
    # S: 1 until 5, 3/4 from 5, 3/4 * 2/3 = 1/2 from 10, 0 from 20; at risk at the last step on or before the day
    assert curve["survival"].tolist() == pytest.approx([1.0, 0.75, 0.5, 0.5, 0.0])
    assert curve["at_risk"].tolist() == [4, 4, 3, 3, 1]
    weekly = km_on_grid(survival, group="group", step=7)
    assert set(weekly["group"]) == {"short", "middle", "long"}
    full = km_curve(survival, group="group")
    for level, part in weekly.groupby("group"):
        steps = full[full["group"] == level]
        expected = [steps.loc[steps["time"] <= day, "survival"].iloc[-1] for day in part["time"]]
        assert part["survival"].tolist() == pytest.approx(expected)
    assert weekly.groupby("group")["time"].max().eq(np.arange(0, full["time"].max() + 7, 7)[-1]).all()
    with pytest.raises(ValueError, match="step"):
        km_on_grid(frame, "days", "event", "group", step=0)


def test_km_median_not_reached_is_infinite():
    frame = pd.DataFrame({"os_days": [10.0, 20, 30, 40, 50], "os_event": [True, False, False, False, False]})
    table = km_medians(frame)
    assert np.isinf(table.loc[0, "median"]) and np.isinf(table.loc[0, "ci_upper"])


def test_km_curve_is_a_step_table_from_one(survival):
    curve = km_curve(survival, group="group")
    assert list(curve.columns) == ["group", "time", "survival", "ci_lower", "ci_upper", "at_risk", "events", "censored"]
    first = curve.groupby("group").head(1)
    assert (first["time"] == 0).all() and (first["survival"] == 1).all()
    part = survival[survival["group"] == "middle"]
    fitter = KaplanMeierFitter().fit(part["os_days"], part["os_event"])
    mine = curve[curve["group"] == "middle"].set_index("time")
    assert mine["survival"].to_numpy() == pytest.approx(fitter.survival_function_.iloc[:, 0].to_numpy())
    assert mine["ci_lower"].to_numpy() == pytest.approx(fitter.confidence_interval_.iloc[:, 0].to_numpy())
    assert mine["events"].sum() == part["os_event"].sum()
    assert mine["at_risk"].iloc[0] == len(part)
    assert (np.diff(mine["survival"].to_numpy()) <= 0).all()
    by_hand = np.cumprod(1 - mine["events"] / mine["at_risk"])
    assert mine["survival"].to_numpy() == pytest.approx(by_hand.to_numpy())


def test_logrank_matches_lifelines(survival):
    result = logrank(survival, group="group")
    direct = multivariate_logrank_test(survival["os_days"], survival["group"], survival["os_event"])
    assert (result.statistic, result.p) == pytest.approx((direct.test_statistic, direct.p_value))
    assert result.df == 2 and result.groups == ("long", "middle", "short") and result.n == len(survival)
    two = survival[survival["group"] != "middle"]
    pair = logrank(two, group="group")
    a, b = (two[two["group"] == g] for g in ("long", "short"))
    direct_pair = logrank_test(a["os_days"], b["os_days"], a["os_event"], b["os_event"])
    assert pair.p == pytest.approx(direct_pair.p_value)
    with pytest.raises(ValueError, match="two groups"):
        logrank(a, group="group")


def test_group_concordance_orders_groups_by_risk(survival):
    risks = group_risks(survival, group="group")
    assert risks["short"] > risks["middle"] > risks["long"] == 0.0  # 'long' is the largest (first by name)
    c_index = group_concordance(survival, group="group")
    dummies = pd.get_dummies(survival["group"], dtype=float).drop(columns="long")
    fit = CoxPHFitter().fit(dummies.assign(T=survival["os_days"], E=survival["os_event"]), "T", "E")
    direct = concordance_index(survival["os_days"], -fit.predict_partial_hazard(dummies), survival["os_event"])
    assert c_index == pytest.approx(direct)
    assert c_index > 0.6
    assert group_concordance(survival.assign(group="one"), group="group") == 0.5


def test_group_concordance_with_single_patient_groups():
    """Many clusters of a small cohort leave groups of one patient (k = 13 of 150 patients in a user's build).
    lifelines' full Newton steps diverge on this grouping (ConvergenceError); the half steps of the concordance
    fit converge, and the risks order the groups as the data do."""
    rng = np.random.default_rng(44)
    sizes = [30, 25, 20, 9, 7, 6, 5, 1, 1]
    frame = pd.DataFrame(
        {
            "group": np.repeat([f"c{i}" for i in range(len(sizes))], sizes),
            "os_days": np.round(rng.exponential(600, sum(sizes))) + 1,
            "os_event": rng.random(sum(sizes)) < 0.75,
        }
    )
    risks = group_risks(frame, group="group")
    assert np.isfinite(risks).all() and risks["c0"] == 0.0
    c_index = group_concordance(frame, group="group")
    score = frame["group"].map(risks)
    assert c_index == pytest.approx(concordance_index(frame["os_days"], -score, frame["os_event"]))
    assert 0.5 < c_index < 1.0


def test_kruskal_matches_scipy():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "value": np.concatenate([rng.normal(0, 1, 30), rng.normal(0.8, 1, 25), [np.nan]]),
            "group": ["a"] * 30 + ["b"] * 25 + ["b"],
        }
    )
    result = kruskal(frame, "value", "group")
    direct = scipy_stats.kruskal(frame["value"][:30], frame["value"][30:55])
    assert (result.statistic, result.p) == pytest.approx((direct.statistic, direct.pvalue))
    assert (result.df, result.n, result.groups) == (1, 55, ("a", "b"))
    assert result.to_frame().loc[0, "n"] == 55
    with pytest.raises(ValueError, match="two non-empty groups"):
        kruskal(frame[frame["group"] == "a"], "value", "group")


def test_dunn_matches_scikit_posthocs_and_the_hand_formula():
    rng = np.random.default_rng(2)
    values = np.round(np.concatenate([rng.normal(0, 1, 20), rng.normal(1, 1, 15), rng.normal(2, 1, 25)]), 1)
    frame = pd.DataFrame({"value": values, "group": ["x"] * 20 + ["y"] * 15 + ["z"] * 25})
    table = dunn(frame, "value", "group")
    assert table[["group_a", "group_b"]].values.tolist() == [["x", "y"], ["x", "z"], ["y", "z"]]
    raw = scikit_posthocs.posthoc_dunn(frame, val_col="value", group_col="group")
    assert table["p"].to_numpy() == pytest.approx([raw.loc["x", "y"], raw.loc["x", "z"], raw.loc["y", "z"]])
    assert table["p_adjusted"].to_numpy() == pytest.approx(np.minimum(table["p"].to_numpy() * 3, 1.0))
    assert table["adjustment"].eq("bonferroni").all()
    ranks = scipy_stats.rankdata(values)
    n = len(values)
    _, ties = np.unique(values, return_counts=True)
    spread = n * (n + 1) / 12 - (ties**3 - ties).sum() / (12 * (n - 1))
    z_xz = (ranks[:20].mean() - ranks[35:].mean()) / np.sqrt(spread * (1 / 20 + 1 / 25))
    assert table.loc[1, "z"] == pytest.approx(z_xz)
    holm = dunn(frame, "value", "group", p_adjust="holm")
    assert holm["p_adjusted"].to_numpy() == pytest.approx(multipletests(table["p"], method="holm")[1])


def test_mann_whitney_effect_sizes():
    rng = np.random.default_rng(3)
    a = np.round(rng.normal(1.0, 1, 40), 1)
    b = np.round(rng.normal(0.0, 1, 30), 1)
    result = mann_whitney(np.append(a, np.nan), b)
    direct = scipy_stats.mannwhitneyu(a, b, alternative="two-sided")
    assert (result.u, result.p) == pytest.approx((direct.statistic, direct.pvalue))
    differences = np.sign(a[:, None] - b[None, :])
    assert result.rank_biserial == pytest.approx(differences.mean())  # Cliff's delta by brute force
    assert result.rank_biserial > 0 and result.median_a > result.median_b
    no_continuity = scipy_stats.mannwhitneyu(a, b, alternative="two-sided", method="asymptotic", use_continuity=False)
    assert result.r == pytest.approx(scipy_stats.norm.isf(no_continuity.pvalue / 2) / np.sqrt(70))
    swapped = mann_whitney(b, a)
    assert swapped.rank_biserial == pytest.approx(-result.rank_biserial) and swapped.r == pytest.approx(result.r)
    frame = pd.DataFrame({"v": np.concatenate([a, b]), "arm": ["TAR"] * 40 + ["Chemo"] * 30})
    by_group = mann_whitney_groups(frame, "v", "arm", order=("TAR", "Chemo"))
    assert by_group.u == result.u and (by_group.group_a, by_group.group_b) == ("TAR", "Chemo")
    with pytest.raises(ValueError, match="both sides"):
        mann_whitney([], b)


def test_pearson_matches_scipy_and_counts_dropped_pairs():
    rng = np.random.default_rng(4)
    x = rng.normal(size=50)
    y = 0.6 * x + rng.normal(scale=0.8, size=50)
    result = pearson(np.append(x, [np.nan, 1.0]), np.append(y, [2.0, np.inf]))
    direct = scipy_stats.pearsonr(x, y)
    assert (result.r, result.p) == pytest.approx((direct.statistic, direct.pvalue))
    interval = direct.confidence_interval()
    assert (result.ci_lower, result.ci_upper) == pytest.approx((interval.low, interval.high))
    assert (result.n, result.dropped) == (50, 2)
    assert set(result.to_dict()) == {"r", "p", "n", "ci_lower", "ci_upper", "dropped"}


def test_chi_square_matches_scipy():
    frame = pd.DataFrame(
        {
            "cluster": ["Liver-First"] * 50 + ["Lung-First"] * 30 + ["Other-First"] * 40,
            "arm": ["TAR"] * 20 + ["Chemo"] * 30 + ["TAR"] * 18 + ["Chemo"] * 12 + ["TAR"] * 22 + ["Chemo"] * 18,
        }
    )
    table = contingency(frame, "cluster", "arm")
    result = chi_square(table)
    direct = scipy_stats.chi2_contingency(table.to_numpy())
    assert (result.statistic, result.p, result.dof) == pytest.approx((direct.statistic, direct.pvalue, 2))
    assert result.cramers_v == pytest.approx(np.sqrt(direct.statistic / 120))
    assert result.expected.loc["Lung-First", "TAR"] == pytest.approx(30 * 60 / 120)
    two_by_two = [[10, 20], [25, 15]]
    yates = chi_square(two_by_two)
    plain = chi_square(two_by_two, correction=False)
    assert yates.p == pytest.approx(scipy_stats.chi2_contingency(two_by_two).pvalue)
    assert plain.statistic > yates.statistic and plain.cramers_v == yates.cramers_v
    with pytest.raises(ValueError, match="at least 2"):
        chi_square([[3, 0], [4, 0]])


def test_by_stratum_stacks_tidy_results():
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(
        {
            "interval": np.repeat(["1st", "2nd-1st", "3rd-2nd"], 40),
            "arm": np.tile(np.repeat(["TAR", "Chemo"], 20), 3),
            "days": rng.exponential(60, 120),
        }
    )
    frame.loc[frame["interval"] == "3rd-2nd", "arm"] = "TAR"
    table = by_stratum(kruskal, frame, by="interval", value="days", group="arm")
    assert table["interval"].tolist() == ["1st", "2nd-1st", "3rd-2nd"]
    first = frame[frame["interval"] == "1st"]
    assert table.loc[0, "p"] == pytest.approx(kruskal(first, "days", "arm").p)
    assert np.isnan(table.loc[2, "p"]) and "two non-empty groups" in table.loc[2, "error"]
    pairs = by_stratum(dunn, frame[frame["interval"] != "3rd-2nd"], by="interval", value="days", group="arm")
    assert len(pairs) == 2 and list(pairs.columns[:3]) == ["interval", "group_a", "group_b"]
