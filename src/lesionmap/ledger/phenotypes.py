"""Chapter 3's ledger: the paper's organ findings beside this cohort's (results file ``phenotypes``).

Each finding says whether it is an *input* of the simulated cohort or *emergent*, and the decision is computed
from the cohort spec's organ parameters that the chapter saves (``spec_organs``), not typed:

- a response direction (organ more or less likely to respond than the reference organ) is an input when the
  spec's regression rate Kd and resistant fraction F of the organ both point that way against the reference
  organ's (higher Kd and lower F: deeper, faster shrinkage);
- a progression direction is an input when the spec's regrowth rate Kg points that way;
- a phenotype (quadrant of Fig. 3c) is an input when both of its directions are;
- the survival findings of Supplementary Fig. 5 are inputs when the spec's death weights make regrowth in the
  organs of the group more (or less) lethal than elsewhere.

Anything else is emergent: it comes from mechanisms that do not name it (lesion kind mix, event derivation,
new lesions). A user's data are "real data". Where the chapter fitted the same model to the true event times
(the oracle), the value says what that fit gives, so the estimate can be read beside the truth.
"""

from __future__ import annotations

import math

import pandas as pd

from lesionmap import ledger

#: The paper's direction claims (FACTS, Fig. 3a-b): organ -> +1 (above the reference) or -1 (below).
RESPONSE_DIRECTIONS = {"liver": 1, "GI tract": -1, "skin": -1, "bone": -1}
PROGRESSION_DIRECTIONS = {"brain/CNS": 1, "GR": 1, "liver": 1, "GI tract": -1, "regional LN": -1, "distal LN": -1}
#: The phenotypes the paper names (Fig. 3c).
PAPER_PHENOTYPES = {
    "liver": "high-high",
    "bone": "low-high",
    "brain/CNS": "low-high",
    "lung": "high-low",
    "regional LN": "high-low",
    "distal LN": "high-low",
}
#: The head-and-neck cohort (Fig. 3d): organs that progress most, and lymph nodes high-low.
HN_TOP_PROGRESSION = ("liver", "brain/CNS")
HN_TOP_RANK = 3
HN_LYMPH_NODES = ("regional LN", "distal LN")


def _table(rows) -> pd.DataFrame:
    return pd.DataFrame(rows or [])


def _hr_lookup(cohort_results: dict, endpoint: str) -> pd.DataFrame:
    table = _table(cohort_results["hazard_ratios"][endpoint])
    return table[table["estimable"].astype(bool)].set_index("organ") if len(table) else table


def _oracle(results: dict, endpoint: str) -> dict:
    truth = results.get("truth") or {}
    table = _table(truth.get("hazard_ratios"))
    if not len(table):
        return {}
    part = table[table["endpoint"] == endpoint]
    return dict(zip(part["organ"], part["oracle_hr"], strict=True))


def _word(direction: int) -> str:
    return "above" if direction > 0 else "below"


def _spec_direction(spec: dict | None, organ: str, reference: str, endpoint: str) -> tuple[int | None, str]:
    """The direction the spec sets for ``organ`` against ``reference`` (+1, -1, or None if mixed/absent)."""
    if not spec or organ not in spec.get("Kg", {}) or reference not in spec.get("Kg", {}):
        return None, "organ not in the cohort spec"
    if endpoint == "progression":
        kg, kg_ref = spec["Kg"][organ], spec["Kg"][reference]
        return (1 if kg > kg_ref else -1), f"spec Kg {kg:g} against {reference} {kg_ref:g}"
    kd, kd_ref, f, f_ref = spec["Kd"][organ], spec["Kd"][reference], spec["F"][organ], spec["F"][reference]
    kd_dir, f_dir = (1 if kd > kd_ref else -1), (1 if f < f_ref else -1)
    text = f"spec Kd {kd:g} and F {f:g} against {reference} {kd_ref:g} and {f_ref:g}"
    return (kd_dir if kd_dir == f_dir else None), text


def _origin(results: dict, spec: dict | None, organ: str, reference: str, endpoint: str, claimed: int):
    direction, text = _spec_direction(spec, organ, reference, endpoint)
    simulated = "input" if direction == claimed else "emergent"
    how = (
        f"set by the spec ({text})"
        if simulated == "input"
        else f"not set by the spec ({text}); from the lesion mix, event derivation and new lesions"
    )
    return ledger.origin_for(results, simulated), how


def _hr_text(hrs: pd.DataFrame, oracle: dict, organ: str) -> str:
    text = f"HR {hrs.loc[organ, 'hr']:.2f}"
    if organ in oracle and oracle[organ] is not None and math.isfinite(oracle[organ]):
        text += f" (oracle {oracle[organ]:.2f})"
    return text


def _direction_findings(results, cohort_results, spec, endpoint, claims) -> list[ledger.Finding]:
    hrs, oracle, reference = (
        _hr_lookup(cohort_results, endpoint),
        _oracle(results, endpoint),
        cohort_results["reference"],
    )
    items = []
    for organ, claimed in claims.items():
        origin, how = _origin(results, spec, organ, reference, endpoint, claimed)
        present = len(hrs) and organ in hrs.index
        items.append(
            ledger.Finding(
                f"{endpoint}_{organ}",
                f"{organ}: {endpoint} hazard {_word(claimed)} the reference organ ({reference})",
                f"HR {'>' if claimed > 0 else '<'} 1",
                _hr_text(hrs, oracle, organ) if present else "not estimable",
                origin,
                (bool((hrs.loc[organ, "hr"] > 1) == (claimed > 0)) if present else None),
                how=how,
            )
        )
    return items


def phenotype_origin(spec: dict | None, organ: str, reference: str, code: str) -> tuple[bool, str]:
    """Whether the spec's organ parameters set phenotype ``code`` (e.g. "high-low") of ``organ`` against
    ``reference`` on both endpoints (Kd and F for response, Kg for progression), and the spec values behind it."""
    claims = {"response": 1 if code.startswith("high") else -1, "progression": 1 if code.endswith("high") else -1}
    parts = [_spec_direction(spec, organ, reference, e) for e in claims]
    both_input = all(direction == claims[e] for (direction, _), e in zip(parts, claims, strict=True))
    return both_input, "; ".join(text for _, text in parts)


def _phenotype_findings(results, cohort_results, spec) -> list[ledger.Finding]:
    phenotypes = _table(cohort_results["phenotypes"]).set_index("organ")["phenotype"]
    reference = cohort_results["reference"]
    items = []
    for organ, code in PAPER_PHENOTYPES.items():
        both_input, how = phenotype_origin(spec, organ, reference, code)
        items.append(
            ledger.Finding(
                f"phenotype_{organ}",
                f"{organ} is {code} (Fig. 3c)",
                code,
                phenotypes.get(organ, "absent"),
                ledger.origin_for(results, "input" if both_input else "emergent"),
                bool(phenotypes[organ] == code) if organ in phenotypes.index else None,
                how=("set by the spec: " if both_input else "not set by the spec alone: ") + how,
            )
        )
    return items


def _survival_findings(results, spec) -> list[ledger.Finding]:
    survival, paper = results.get("overall_survival") or {}, results.get("paper_overall_survival") or {}
    phenotypes = _table(results[_main_key(results)]["phenotypes"]).set_index("organ")["phenotype"]
    weights = (spec or {}).get("death_log_hazard", {})
    items = []
    claims = (
        ("low_high", "low-high lesions", "no low-high lesions", -1, "low-high"),
        ("high_low", "only high-low organs", "other organs", 1, "high-low"),
    )
    for column, group, others, claimed, code in claims:
        if column not in survival:
            continue
        medians = (
            _table(survival[column]["medians"]).set_index("group")["median"]
            if survival[column]["medians"]
            else pd.Series(dtype=float)
        )
        values = [medians.get(group), medians.get(others)]
        shown = [
            "not reached" if v is None or not math.isfinite(v) else f"{v:,.0f}"
            for v in [float("inf") if v is None else v for v in values]
        ]
        if any(v is None for v in values):
            holds = None
        else:
            first, second = (math.inf if not math.isfinite(v) else v for v in values)
            holds = None if first == second == math.inf else bool((first > second) == (claimed > 0))
        organs = phenotypes[phenotypes == code].index.tolist()
        in_group = [weights[o] for o in organs if o in weights]
        rest = [w for o, w in weights.items() if o not in organs]
        weighted = bool(
            in_group and rest and ((sum(in_group) / len(in_group) > sum(rest) / len(rest)) == (claimed < 0))
        )
        how = (
            f"cohort spec organs.death_log_hazard: mean {sum(in_group) / len(in_group):.2f} in the {code} organs against "
            f"{sum(rest) / len(rest):.2f} elsewhere"
            if in_group and rest
            else "no death weights for these organs"
        )
        paper_values = paper.get(column, {})
        items.append(
            ledger.Finding(
                f"os_{column}",
                f"OS of patients with {group} {'longer' if claimed > 0 else 'shorter'} than the others' "
                "(Supplementary Fig. 5)",
                f"{paper_values.get(group, 'n/a')} vs {paper_values.get(others, 'n/a')} days",
                f"{shown[0]} vs {shown[1]} days",
                ledger.origin_for(results, "input" if weighted else "emergent"),
                holds,
                how=how,
            )
        )
    return items


def _hn_findings(results, hn_results, spec) -> list[ledger.Finding]:
    hrs = _hr_lookup(hn_results, "progression").sort_values("hr", ascending=False)
    top = hrs.index[:HN_TOP_RANK].tolist()
    kg = pd.Series((spec or {}).get("Kg", {}), dtype=float).sort_values(ascending=False)
    spec_top = kg.index[: len(HN_TOP_PROGRESSION)].tolist()
    present = [o for o in HN_TOP_PROGRESSION if o in hrs.index]
    items = [
        ledger.Finding(
            "hn_top_progression",
            f"mHNSCC: liver and brain/CNS among the {HN_TOP_RANK} highest progression hazards (Fig. 3d)",
            "liver, brain progress most",
            ", ".join(top) or "none",
            ledger.origin_for(results, "input" if set(spec_top) == set(HN_TOP_PROGRESSION) else "emergent"),
            (all(o in top for o in HN_TOP_PROGRESSION) if len(present) == len(HN_TOP_PROGRESSION) else None),
            how=f"the mHNSCC spec sets the fastest regrowth (Kg) in {', '.join(spec_top) or 'no organ'}",
        )
    ]
    phenotypes = _table(hn_results["phenotypes"]).set_index("organ")["phenotype"]
    for organ in HN_LYMPH_NODES:
        origin, how = _origin(results, spec, organ, hn_results["reference"], "progression", -1)
        response_dir, response_text = _spec_direction(spec, organ, hn_results["reference"], "response")
        input_both = origin == "input" and response_dir == 1
        items.append(
            ledger.Finding(
                f"hn_phenotype_{organ}",
                f"mHNSCC: {organ} is high-low (Fig. 3d)",
                "high-low",
                phenotypes.get(organ, "absent"),
                ledger.origin_for(results, "input" if input_both else "emergent"),
                bool(phenotypes[organ] == "high-low") if organ in phenotypes.index else None,
                how=f"{'set by the spec' if input_both else 'not set by the spec alone'}: {response_text}; {how.split('(', 1)[-1].rstrip(')')}",
            )
        )
    return items


def _main_key(results: dict) -> str:
    return results["cohort"] if results.get("cohort") in ledger.SIMULATED_COHORTS else "sdtm"


@ledger.rule("phenotypes")
def phenotype_findings(results: dict) -> list[ledger.Finding]:
    """Directions of Fig. 3a-b, quadrants of Fig. 3c, Supplementary Fig. 5 and the mHNSCC pattern of Fig. 3d."""
    key = _main_key(results)
    cohort_results = results[key]
    specs = results.get("spec_organs") or {}
    spec = specs.get(key)
    items = _direction_findings(results, cohort_results, spec, "response", RESPONSE_DIRECTIONS)
    items += _direction_findings(results, cohort_results, spec, "progression", PROGRESSION_DIRECTIONS)
    items += _phenotype_findings(results, cohort_results, spec)
    items += _survival_findings(results, spec)
    hn_key = results.get("comparison_cohort")
    if hn_key and hn_key in results:
        items += _hn_findings(results, results[hn_key], specs.get(hn_key))
    return items
