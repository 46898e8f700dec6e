"""The summary of a study: per quantity, bias, RMSE and 95% interval coverage over the replicates.

SimDesign's and simChef's summaries, for the rows ``run_replicate`` returns: bias is the mean of estimate
minus truth, RMSE the root mean square of it, coverage the share of replicates whose 95% interval holds the
truth (Monte Carlo SE beside bias and coverage, so that a reader sees how many replicates a digit needs).
Quantities without truth (counts, AUCs) get their mean and SD; findings their share of replicates.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SUMMARY_COLUMNS = (
    "stage",
    "quantity",
    "replicates",
    "mean_estimate",
    "sd_estimate",
    "mean_truth",
    "bias",
    "bias_mcse",
    "rmse",
    "mean_se",
    "coverage",
    "coverage_mcse",
)


def _summarise(rows: pd.DataFrame) -> dict:
    error = (rows["estimate"] - rows["truth"]).dropna()
    n = int(rows["estimate"].notna().sum())
    has_interval = rows[["lower", "upper", "truth"]].notna().all(axis=1)
    covered = ((rows["lower"] <= rows["truth"]) & (rows["truth"] <= rows["upper"]))[has_interval]
    coverage = float(covered.mean()) if len(covered) else np.nan
    return {
        "replicates": n,
        "mean_estimate": float(rows["estimate"].mean()),
        "sd_estimate": float(rows["estimate"].std(ddof=1)) if n > 1 else np.nan,
        "mean_truth": float(rows["truth"].mean()) if rows["truth"].notna().any() else np.nan,
        "bias": float(error.mean()) if len(error) else np.nan,
        "bias_mcse": float(error.std(ddof=1) / np.sqrt(len(error))) if len(error) > 1 else np.nan,
        "rmse": float(np.sqrt(np.mean(error**2))) if len(error) else np.nan,
        "mean_se": float(rows["se"].mean()) if rows["se"].notna().any() else np.nan,
        "coverage": coverage,
        "coverage_mcse": float(np.sqrt(coverage * (1 - coverage) / len(covered))) if len(covered) else np.nan,
    }


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (stage, quantity) in the order they first appear; timing rows are left out."""
    rows = rows[rows["stage"] != "timing"]
    if rows.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    order = rows[["stage", "quantity"]].drop_duplicates()
    out = [
        {"stage": stage, "quantity": quantity, **_summarise(part)}
        for (stage, quantity), part in rows.groupby(["stage", "quantity"], sort=False)
    ]
    table = pd.DataFrame(out, columns=list(SUMMARY_COLUMNS))
    return order.merge(table, on=["stage", "quantity"], how="left").reset_index(drop=True)


def finding_shares(rows: pd.DataFrame) -> pd.DataFrame:
    """Per finding: replicates where it could be tested, and the share of those where it holds."""
    findings = rows[rows["stage"] == "findings"]
    grouped = findings.groupby("quantity", sort=False)["estimate"]
    return (
        pd.DataFrame({"tested": grouped.count(), "holds": grouped.sum(min_count=1), "share": grouped.mean()})
        .reset_index()
        .rename(columns={"quantity": "finding"})
    )


def format_summary(table: pd.DataFrame) -> str:
    """The summary as a fixed-width text table for the terminal."""
    shown = table.drop(columns=["bias_mcse", "coverage_mcse", "mean_se"], errors="ignore")
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 48):
        return shown.to_string(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")
