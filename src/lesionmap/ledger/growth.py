"""Ledger rules of Chapter 2 (tumour growth dynamics), read from its results file ``growth.json``.

Each organ finding is judged the paper's way, on the medians of the per-lesion estimates; the value also
shows the covariate model's organ effects and, for a simulated cohort, the truth, so that a finding lost to
shrinkage is seen as such. In the simulated cohorts the spec sets every organ's typical Kd, F, Kg and baseline
volume and the treatment effects directly (``organs`` and ``treatment_effects`` of the spec), so the organ
orderings, the organ-level correlations and the treatment effects are inputs; only their recovery by the
estimators is tested here.
"""

from __future__ import annotations

import pandas as pd

from lesionmap.ledger import Finding, origin_for, rule

_SIGNIFICANT = 0.05
_SPEC_ORGANS = "spec organs.Kd, organs.F, organs.Kg (organ typical values)"


def _organ_frame(results: dict) -> pd.DataFrame:
    return pd.DataFrame(results["organ_values"])


def _extreme(frame: pd.DataFrame, parameter: str, source: str, highest: bool, among=None) -> str | None:
    part = frame[frame["parameter"] == parameter]
    if among is not None:
        part = part[part["organ"].isin(among)]
    if source not in part or part[source].isna().all() or part.empty:
        return None
    values = part.set_index("organ")[source]
    return str(values.idxmax() if highest else values.idxmin())


def _by_source(frame, parameter, highest, among=None) -> dict:
    return {
        source: _extreme(frame, parameter, source, highest, among)
        for source in ("per-lesion median", "covariate model", "truth")
    }


def _describe(picks: dict) -> str:
    names = {"per-lesion median": "per-lesion medians", "covariate model": "covariate model", "truth": "truth"}
    return "; ".join(f"{names[s]}: {organ}" for s, organ in picks.items() if organ is not None)


def _correlation(results: dict, x: str, y: str, source: str) -> dict | None:
    for row in results["organ_correlations"]:
        if row["source"] == source and row["x"] == x and row["y"] == y:
            return row
    return None


def _correlation_text(results: dict, x: str, y: str) -> str:
    parts = []
    for source, label in (("per-lesion median", "medians"), ("covariate model", "covariate model"), ("truth", "truth")):
        row = _correlation(results, x, y, source)
        if row is not None and row["r"] is not None:
            parts.append(f"{label}: r = {row['r']:.2f} (p = {row['p']:.2g})")
    return "; ".join(parts)


@rule("growth")
def growth_findings(results: dict) -> list[Finding]:
    """The findings of Fig. 2 and Supplementary Fig. 2."""
    frame = _organ_frame(results)
    organs_present = set(frame["organ"])
    items = []

    kruskal = {row["parameter"]: row["p"] for row in results["kruskal_wallis"]}
    items.append(
        Finding(
            "organs_differ",
            "Kd, F and Kg differ across organs (Kruskal-Wallis)",
            "p < 0.0001 for each",
            ", ".join(f"{p}: p = {v:.2g}" for p, v in kruskal.items()),
            origin_for(results, "input"),
            all(v is not None and v < 0.0001 for v in kruskal.values()),
            how=_SPEC_ORGANS,
        )
    )

    def organ_finding(key, statement, paper, parameter, highest, expected, among=None):
        if expected not in organs_present or (among is not None and not set(among) <= organs_present):
            items.append(
                Finding(
                    key, statement, paper, f"{expected} absent", origin_for(results, "input"), None, how=_SPEC_ORGANS
                )
            )
            return
        picks = _by_source(frame, parameter, highest, among)
        items.append(
            Finding(
                key,
                statement,
                paper,
                _describe(picks),
                origin_for(results, "input"),
                picks["per-lesion median"] == expected,
                how=_SPEC_ORGANS,
            )
        )

    organ_finding("bone_highest_F", "Bone: highest F (least shrinkage)", "bone", "F", True, "bone")
    organ_finding("gr_fastest_Kg", "GR: fastest Kg", "GR", "Kg", True, "GR")
    organ_finding("kidney_lowest_Kd", "Kidney: lowest Kd", "kidney", "Kd", False, "kidney")
    trio = ["liver", "lung", "regional LN", "distal LN"]
    trio = [o for o in trio if o in organs_present]
    organ_finding(
        "liver_deepest",
        "Liver: highest shrinkage (lowest F) among liver, lung and lymph nodes",
        "liver",
        "F",
        False,
        "liver",
        among=trio,
    )
    organ_finding(
        "liver_fastest_Kg",
        "Liver: fastest Kg among liver, lung and lymph nodes",
        "liver",
        "Kg",
        True,
        "liver",
        among=trio,
    )

    for key, x, y, statement, paper, sign in (
        ("r_F_Kd", "F", "Kd", "Organ-level correlation of F with Kd is negative", "r = -0.69, p = 0.0014", -1),
        ("r_F_Kg", "F", "Kg", "Organ-level correlation of F with Kg is positive", "r = +0.53, p = 0.03", 1),
    ):
        row = _correlation(results, x, y, "per-lesion median")
        holds = None if row is None or row["r"] is None else bool(sign * row["r"] > 0 and row["p"] < _SIGNIFICANT)
        items.append(
            Finding(
                key,
                statement,
                paper,
                _correlation_text(results, x, y),
                origin_for(results, "input"),
                holds,
                how=_SPEC_ORGANS,
            )
        )
    row = _correlation(results, "Kg", "Kd", "per-lesion median")
    items.append(
        Finding(
            "r_Kg_Kd",
            "Kg and Kd are not correlated across organs",
            "no correlation",
            _correlation_text(results, "Kg", "Kd"),
            origin_for(results, "input"),
            None if row is None or row["p"] is None else bool(row["p"] >= _SIGNIFICANT),
            how=_SPEC_ORGANS,
        )
    )

    volume = [r for r in results["baseline_volume_by_organ"] if r["source"] == "per-lesion median"]
    items.append(
        Finding(
            "no_volume_correlation",
            "Baseline volume does not correlate with Kd, F or Kg across organs",
            "no correlation",
            ", ".join(f"{r['parameter']}: r = {r['r']:.2f} (p = {r['p']:.2g})" for r in volume),
            origin_for(results, "input"),
            bool(all(r["p"] >= _SIGNIFICANT for r in volume)) if volume else None,
            how="spec organs.v0_median_mm3 beside the organ typical values",
        )
    )

    effects = {row["parameter"]: row for row in results["treatment_effects"]}
    for key, name, statement, paper in (
        ("tar_deeper", "1-F", "TAR + Chemo: deeper response (1 - F)", "effect size 0.43"),
        ("tar_slower", "Kg", "TAR + Chemo: lower Kg", "effect size 0.26"),
    ):
        row = effects.get(name)
        holds = None if row is None else bool(row["effect_size"] > 0 and row["p"] < _SIGNIFICANT)
        value = "group absent" if row is None else f"effect size {row['effect_size']:.2f} (p = {row['p']:.2g})"
        items.append(
            Finding(
                key,
                statement,
                paper,
                value,
                origin_for(results, "input"),
                holds,
                how="spec treatment_effects (tar_logit_F, tar_log_Kg)",
            )
        )
    return items
