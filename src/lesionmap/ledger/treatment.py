"""Ledger rules of Chapter 5 (treatment effects: Fig. 3e, f as a test, Fig. 5, Supplementary Fig. 10), read from
``treatment.json``.

In a simulated cohort the spec sets TAR's lesion-level effects directly (``treatment_effects``, and
``organs.tar_acts`` for the organs it does not reach): findings about lesion hazards are inputs. Survival,
group proportions and the timing of progressions by treatment are emergent: the spec has no treatment term in
the death hazard and never names a progression group.
"""

from __future__ import annotations

from lesionmap.ledger import Finding, origin_for, rule


def _p(value) -> str:
    return "n/a" if value is None else f"p = {value:.2g}"


@rule("treatment")
def treatment_findings(results: dict) -> list[Finding]:
    """The paper's findings on what antibody-targeted therapy changes."""
    interaction = results.get("interaction", {})
    contrast = interaction.get("contrast") or {}
    grouped = {row["set"]: row for row in interaction.get("grouped") or []}
    tar = (results.get("tar_hazard_ratio") or {}).get("progression")
    first = results.get("first_groups", [])
    benefit = results.get("first_groups_with_benefit", [])
    proportions_p = (results.get("proportions_chi_square") or {}).get("p")
    first_progression = results.get("first_progression")
    spec_spared = results.get("spec_spared_organs")
    sparing_how = "organs.tar_acts: TAR reaches the lesions of every organ except " + (
        ", ".join(spec_spared) if spec_spared else "no organ"
    )
    pooled_value = "n/a"
    if grouped and contrast:
        spared_row, other_row = list(grouped.values())[:2]
        pooled_value = (
            f"HR {other_row['hr']:.2f} in other organs, {spared_row['hr']:.2f} in the four; "
            f"ratio {contrast['ratio']:.2f}, p = {contrast['p']:.2g}; lowered in "
            f"{interaction.get('n_others_lower')} of {interaction.get('n_others')} other organs"
        )
        target = next((row for row in interaction.get("by_kind") or [] if row.get("lesions") == "target"), None)
        if target is not None:
            pooled_value += f"; target lesions alone: ratio {target['ratio']:.2f}, p = {target['p']:.2g}"
    return [
        Finding(
            "tar_slows_progression",
            "TAR + Chemo lowers lesion progression hazards (whole cohort)",
            "HR < 1",
            "treatment not kept by the rule" if tar is None else f"HR {tar['hr']:.2f} ({_p(tar['p'])})",
            origin_for(results, "input"),
            None if tar is None else bool(tar["hr"] < 1 and tar["p"] < 0.05),
            how="treatment_effects.tar_log_Kg and tar_log_new_lesion_rate",
        ),
        Finding(
            "tar_spares_four_organs",
            "TAR lowers progression hazards in most organs but not in brain/CNS, "
            "kidney, skin and spleen (organ x treatment model)",
            "not lowered in these four",
            pooled_value,
            origin_for(results, "input"),
            interaction.get("holds"),
            how=sparing_how,
        ),
        Finding(
            "tar_os_first_groups",
            "TAR improves survival within Liver-, Lung- and Other-First (log-rank)",
            "p < 0.0001 in each",
            f"{len(benefit)} of {len(first)} First groups" if first else "no First group",
            origin_for(results, "emergent"),
            None if not first else len(benefit) == len(first),
            how="no treatment term in the death hazard: only slower progression (survival, organs.death_log_hazard)",
        ),
        Finding(
            "tar_os_hetero",
            "TAR does not improve survival in the Hetero-Organ group",
            "no meaningful benefit",
            "no Hetero-Organ group"
            if results.get("hetero_benefit") is None
            else ("benefit" if results["hetero_benefit"] else "no clear benefit"),
            origin_for(results, "emergent"),
            None if results.get("hetero_benefit") is None else not results["hetero_benefit"],
            how="treatment_effects.tar_max_organs limits TAR to patients with few involved organs at baseline",
        ),
        Finding(
            "group_mix_by_treatment",
            "The progression-group mix does not differ by treatment (chi-square)",
            "no significant change",
            _p(proportions_p),
            origin_for(results, "emergent"),
            None if proportions_p is None else bool(proportions_p >= 0.05),
            how="treatment acts on growth rates, not on which organs are involved",
        ),
        Finding(
            "tar_first_progression",
            "TAR slows the first progression (First groups)",
            "slower under TAR",
            "n/a"
            if not first_progression
            else f"{first_progression['median_a']:,.0f} vs {first_progression['median_b']:,.0f} days "
            f"({_p(first_progression['p'])})",
            origin_for(results, "emergent"),
            None if not first_progression else first_progression["slower_under_tar"],
            how="treatment_effects.tar_log_Kg through the time lesions take to regrow",
        ),
    ]
