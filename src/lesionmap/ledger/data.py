"""Chapter 1's ledger: the cohort's counts beside the paper's (results file ``data``).

The simulated cohorts are calibrated to these counts (organ prevalences, lesions per organ and the scan
schedule of the cohort spec are chosen so that the published totals come out), so every finding here is an
*input*: it says that the calibration worked, not that something emerged. Counts are compared per patient so
that a cohort of any size can be checked; the paper's numbers come from the cohort spec's ``published`` block,
saved by the chapter under ``published``.
"""

from __future__ import annotations

from lesionmap import ledger

#: Largest relative difference from the paper's value that counts as reproduced.
TOLERANCE = 0.02

#: results key -> (what it is, compared per patient)
QUANTITIES = {
    "n_target": ("target lesions per patient", True),
    "n_nontarget": ("non-target lesions per patient", True),
    "n_new": ("new lesions per patient", True),
    "n_lesions": ("lesions per patient", True),
    "measurements_per_target": ("measurements per target lesion", False),
    "mean_age": ("mean age, years", False),
    "n_organs": ("organ categories", False),
}

CALIBRATION = ("cohort spec: organ prevalence and extra lesions per organ, RECIST target selection and the scan "
               "schedule are calibrated to the published totals")


def _relative(value: float, paper: float) -> float:
    return abs(value - paper) / abs(paper)


@ledger.rule("data")
def data_findings(results: dict) -> list[ledger.Finding]:
    """One finding per published count present in the results: within ``TOLERANCE`` of the paper's value."""
    published = results.get("published") or {}
    origin = ledger.origin_for(results, "input")
    items = []
    if "n_patients" in published and not results.get("requested_patients"):
        paper, value = published["n_patients"], results["n_patients"]
        items.append(ledger.Finding(
            "n_patients", "Patients analysed", f"{paper:,}", f"{value:,}", origin,
            _relative(value, paper) <= TOLERANCE, how="cohort spec: cohort size, before the exclusion rules"))
    for key, (label, per_patient) in QUANTITIES.items():
        if key not in published or results.get(key) is None:
            continue
        paper, value = float(published[key]), float(results[key])
        if per_patient:
            paper, value = paper / published["n_patients"], value / results["n_patients"]
        digits = 0 if key == "n_organs" else 2
        within = _relative(value, paper) <= TOLERANCE
        items.append(ledger.Finding(
            key, f"{label[0].upper()}{label[1:]} (within {100 * TOLERANCE:.0f}% of the paper)",
            f"{paper:,.{digits}f}", f"{value:,.{digits}f}", origin, within,
            how=CALIBRATION if key != "mean_age" else "cohort spec: demographics, age distribution"))
    return items
