"""Ledger rules of Chapter 6 (prediction of the progression group at baseline, Supplementary Fig. 11), read from
``prediction.json``. Both findings are emergent in a simulated cohort: the spec never names a group, and the
baseline links to the group only through the organs involved, their lesions and the covariates' effects.
"""

from __future__ import annotations

from lesionmap.ledger import Finding, origin_for, rule

#: The macro AUC this book takes as reproducing the paper's 0.91 (a single split, average not stated).
AUC_BAR = 0.85

HOW = (
    "baseline involvement (involvement), new lesions favouring involved organs (new_lesions) and each organ's "
    "growth (organs) set which organs can progress, and which first; follow-up (follow_up) and lesion-level "
    "variability are invisible at baseline"
)


@rule("prediction")
def prediction_findings(results: dict) -> list[Finding]:
    """The paper's headline AUC and its ranking of the groups."""
    lead = results.get("headline_model")
    summary = (results.get("models") or {}).get(lead, {})
    auc = summary.get("auc_macro")
    ranking = results.get("class_ranking") or {}
    top = list(ranking)[:2]
    return [
        Finding(
            "auc",
            f"Baseline data predict the progression group (macro AUC at least {AUC_BAR})",
            f"{results.get('paper_auc', 0.91):.2f}",
            "n/a" if auc is None else f"macro {auc:.2f}, micro {summary.get('auc_micro', float('nan')):.2f} ({lead})",
            origin_for(results, "emergent"),
            None if auc is None else bool(auc >= AUC_BAR),
            how=HOW,
        ),
        Finding(
            "best_classes",
            "Mono-Organ and Hetero-Organ groups are predicted better than the First groups (one-vs-rest AUC)",
            "Mono-Organ, Hetero-Organ",
            ", ".join(f"{name} {value:.2f}" for name, value in ranking.items()) or "n/a",
            origin_for(results, "emergent"),
            results.get("paper_best_classes_hold"),
            how=HOW + (f"; best here: {', '.join(top)}" if top else ""),
        ),
    ]
