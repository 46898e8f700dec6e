"""What Chapter 5 asks of the treatment groups (TAR + Chemo against Chemo alone): organ hazard ratios fitted
within each group (Fig. 3e/f), survival, group proportions, first organs and progression intervals by treatment
(Fig. 5, Supplementary Fig. 10), and the effects a simulated cohort put in.

- ``organ_hazard_ratios``: the organ rows of fits made within each treatment group, tidy for a forest plot;
- ``organ_hr_differences``: per organ, whether the two groups' log hazard ratios differ (Wald z on the
  difference; the groups hold different patients, so the estimates are independent);
- ``organ_lrt``: the likelihood-ratio test of the organ term within each group;
- ``os_by_treatment``: Kaplan-Meier medians by treatment within each progression group, log-rank p per group;
- ``proportions_by_treatment``: the chi-square test of group x treatment;
- ``first_organ_by_treatment``: per group, chi-square of the first progressing organ x treatment (Fig. 5c-e);
- ``intervals_by_treatment``: per group and interval, medians by treatment and the Kruskal-Wallis p (Fig. 5f-h);
- ``simulated_treatment_effects``: the treatment effects written in a cohort spec, in words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from lesionmap.stats import chi_square, contingency, km_medians, kruskal, logrank
from lesionmap.survival.phenotypes import hazard_ratio_columns

#: The organs whose progression hazards the paper found not lowered by TAR (Results, Fig. 3f).
PAPER_SPARED_ORGANS = ("brain/CNS", "kidney", "skin", "spleen")


def organ_hazard_ratios(fits_by: dict, term: str = "organ", by: str = "treatment_group") -> pd.DataFrame:
    """Rows of ``term`` in each fit of ``fits_by`` ({level: FrailtyCox}): by, organ, hr, lower, upper, coef, se, p."""
    if not fits_by:
        raise ValueError("fits_by is empty: fit the model within the treatment groups first")
    frames = []
    for level, fit in fits_by.items():
        summary = fit.summary
        rows = summary[summary["term"] == term]
        if not len(rows):
            raise ValueError(f"the fit for {level!r} has no {term!r} term")
        ratios = hazard_ratio_columns(rows)
        frames.append(
            pd.DataFrame(
                {
                    by: level,
                    "organ": rows["level"].to_numpy(),
                    "hr": ratios["hr"].to_numpy(),
                    "lower": ratios["lower"].to_numpy(),
                    "upper": ratios["upper"].to_numpy(),
                    "coef": rows["coef"].to_numpy(),
                    "se": rows["se(coef)"].to_numpy(),
                    "p": ratios["p"].to_numpy(),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def organ_hr_differences(
    hazard_ratios: pd.DataFrame, levels: tuple[str, str] = ("TAR+Chemo", "Chemo alone"), by: str = "treatment_group"
) -> pd.DataFrame:
    """Per organ in both groups: hr of each, ratio (first / second), z and two-sided p of the log difference."""
    missing = [level for level in levels if level not in set(hazard_ratios[by])]
    if missing:
        raise ValueError(f"no hazard ratios for {missing} in column {by!r}")
    wide = hazard_ratios.pivot(index="organ", columns=by, values=["coef", "se"]).dropna()
    first, second = levels
    difference = wide[("coef", first)] - wide[("coef", second)]
    se = np.sqrt(wide[("se", first)] ** 2 + wide[("se", second)] ** 2)
    z = difference / se
    return pd.DataFrame(
        {
            "organ": wide.index,
            f"hr {first}": np.exp(wide[("coef", first)]).to_numpy(),
            f"hr {second}": np.exp(wide[("coef", second)]).to_numpy(),
            "ratio": np.exp(difference).to_numpy(),
            "z": z.to_numpy(),
            "p": 2 * stats.norm.sf(np.abs(z.to_numpy())),
        }
    ).reset_index(drop=True)


def organ_lrt(fits_by: dict, term: str = "organ", by: str = "treatment_group") -> pd.DataFrame:
    """The likelihood-ratio test of ``term`` within each fit: by, df, chi2, p, n."""
    rows = [{by: level, **fit.lrt(term)[["df", "chi2", "p", "n"]].to_dict()} for level, fit in fits_by.items()]
    return pd.DataFrame(rows)


def os_by_treatment(
    table: pd.DataFrame,
    groups,
    group: str = "group",
    by: str = "treatment_group",
    duration: str = "os_days",
    event: str = "os_event",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Within each of ``groups``: medians by treatment (group, treatment, n, events, median, ci) and the log-rank
    test (group, n, statistic, p). Groups absent from the table are skipped."""
    medians, tests = [], []
    for name in groups:
        part = table[table[group].astype(str) == name]
        if part[by].nunique() < 2:
            continue
        medians.append(km_medians(part, duration, event, by).rename(columns={"group": by}).assign(group=name))
        result = logrank(part, duration, event, by)
        tests.append({"group": name, "n": result.n, "statistic": result.statistic, "p": result.p})
    median_table = pd.concat(medians, ignore_index=True) if medians else pd.DataFrame()
    if len(median_table):
        median_table = median_table[["group", by, "n", "events", "median", "ci_lower", "ci_upper"]]
    return median_table, pd.DataFrame(tests)


def proportions_by_treatment(table: pd.DataFrame, group: str = "group", by: str = "treatment_group", exclude=()):
    """Chi-square test of independence of ``group`` and ``by`` (groups in ``exclude`` left out)."""
    data = table[~table[group].astype(str).isin(list(exclude))].assign(**{group: lambda t: t[group].astype(str)})
    return chi_square(contingency(data, group, by))


def first_organ_by_treatment(
    sequences, labels: pd.Series, patients: pd.DataFrame, groups, by: str = "treatment_group", min_count: int = 5
) -> pd.DataFrame:
    """Per group: chi-square of the first progressing organ x treatment (organs seen fewer than ``min_count``
    times in the group pooled as 'rarer organs'; tied first organs count once each): group, n, df, statistic, p."""
    first = sequences.organs[sequences.organs["rank"] == 1][["patient_id", "organ"]]
    first = first.assign(
        group=first["patient_id"].map(labels).astype(str),
        treatment=first["patient_id"].map(patients.set_index("patient_id")[by]),
    )
    rows = []
    for name in groups:
        part = first[first["group"] == name]
        if part["treatment"].nunique() < 2:
            continue
        counts = part["organ"].value_counts()
        organ = part["organ"].where(part["organ"].map(counts) >= min_count, "rarer organs")
        table = pd.crosstab(organ, part["treatment"])
        if len(table) < 2:
            rows.append({"group": name, "n": len(part), "df": 0, "statistic": 0.0, "p": 1.0})
            continue
        result = chi_square(table)
        rows.append({"group": name, "n": len(part), "df": result.dof, "statistic": result.statistic, "p": result.p})
    return pd.DataFrame(rows)


def intervals_by_treatment(
    intervals: pd.DataFrame, patients: pd.DataFrame, by: str = "treatment_group", value: str = "days"
) -> pd.DataFrame:
    """Per group and interval: n and median of each treatment and the Kruskal-Wallis p across treatments.

    ``intervals`` is ``interval_table``'s long form (patient_id, group, interval, days)."""
    data = intervals.merge(patients[["patient_id", by]], on="patient_id", how="left", validate="many_to_one")
    rows = []
    for (group, interval), part in data.groupby(["group", "interval"], observed=True, sort=True):
        medians = part.groupby(by)[value].agg(["size", "median"])
        row = {"group": group, "interval": str(interval)}
        for level, stats_row in medians.iterrows():
            row[f"n {level}"] = int(stats_row["size"])
            row[f"median {level}"] = float(stats_row["median"])
        row["p"] = kruskal(part, value, by).p if len(medians) == 2 and medians["size"].min() > 0 else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def simulated_treatment_effects(spec_values: dict) -> pd.DataFrame:
    """The treatment effects of a cohort spec (``CohortSpec.values``) in words: effect, value, where, expected."""
    effects = spec_values["treatment_effects"]
    from lesionmap.cohort import tar_spared_organs

    spared = tar_spared_organs(spec_values)
    limit = int(effects["tar_max_organs"])
    outside = f"; not in {', '.join(spared)}" if spared else ""
    rows = [
        {
            "effect": "deeper response (logit F)",
            "value": effects["tar_logit_F"],
            "where": f"every lesion{outside}",
            "expected": "response hazards higher under TAR in the organs it reaches",
        },
        {
            "effect": "slower regrowth (log Kg)",
            "value": effects["tar_log_Kg"],
            "where": f"patients with at most {limit} involved organs{outside}",
            "expected": "later progressions under TAR except in the spared organs and in patients with broad disease",
        },
        {
            "effect": "fewer new lesions (log rate)",
            "value": effects["tar_log_new_lesion_rate"],
            "where": f"patients with at most {limit} involved organs{outside}",
            "expected": "later and fewer new-lesion progressions under TAR",
        },
        {
            "effect": "regression rate (log Kd)",
            "value": effects["tar_log_Kd"],
            "where": f"every lesion{outside}",
            "expected": "none visible (negligible)",
        },
        {
            "effect": "death hazard",
            "value": 0.0,
            "where": "none directly",
            "expected": "longer survival under TAR only through slower regrowth (smaller burden)",
        },
    ]
    return pd.DataFrame(rows)


def chartable_hazard_ratios(hazard_ratios: pd.DataFrame, max_ratio: float = 1e4) -> tuple[pd.DataFrame, list]:
    """The rows a log-scale forest plot can draw (positive, finite bounds no more than ``max_ratio`` apart), and the
    (group, organ) pairs left out: an organ with no event in a group has an unbounded interval."""
    lower, upper = hazard_ratios["lower"].to_numpy(float), hazard_ratios["upper"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ok = np.isfinite(lower) & np.isfinite(upper) & (lower > 0) & (upper / lower <= max_ratio)
    left_out = [tuple(row) for row in hazard_ratios.loc[~ok, hazard_ratios.columns[:2]].itertuples(index=False)]
    return hazard_ratios[ok].reset_index(drop=True), left_out
