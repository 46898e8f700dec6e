"""Chapter 1's ledger: the cohort's counts beside the paper's (results file ``data``).

The simulated cohorts are calibrated to these counts (organ prevalences, lesions per organ and the scan
schedule of the cohort spec are chosen so that the published totals come out), so every finding here is an
*input*: it says that the calibration worked, not that something emerged. Counts are compared per patient so
that a cohort of any size can be checked; the paper's numbers come from the cohort spec's ``published`` block,
saved by the chapter under ``published``.
"""

from __future__ import annotations

import math

from lesionmap import ledger

#: Largest relative difference from the paper's value that counts as reproduced, at the paper's cohort size.
TOLERANCE = 0.02
#: In a smaller cohort (``n_patients`` set) a count of k also varies by about 1/sqrt(k) between seeds (Poisson):
#: the tolerance widens by this many such standard errors, so a teaching-size cohort is not failed for its size.
SAMPLING_SES = 2.0

#: results key -> (what it is, compared per patient, the count whose sampling noise it carries)
QUANTITIES = {
    "n_target": ("target lesions per patient", True, "n_target"),
    "n_nontarget": ("non-target lesions per patient", True, "n_nontarget"),
    "n_new": ("new lesions per patient", True, "n_new"),
    "n_lesions": ("lesions per patient", True, "n_lesions"),
    "measurements_per_target": ("measurements per target lesion", False, "n_target"),
    "mean_age": ("mean age, years", False, None),
    "n_organs": ("organ categories", False, None),
}

CALIBRATION = (
    "cohort spec: organ prevalence and extra lesions per organ, RECIST target selection and the scan "
    "schedule are calibrated to the published totals"
)


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
        items.append(
            ledger.Finding(
                "n_patients",
                "Patients analysed",
                f"{paper:,}",
                f"{value:,}",
                origin,
                _relative(value, paper) <= TOLERANCE,
                how="cohort spec: cohort size, before the exclusion rules",
            )
        )
    for key, (label, per_patient, noise_count) in QUANTITIES.items():
        if key not in published or results.get(key) is None:
            continue
        paper, value = float(published[key]), float(results[key])
        if per_patient:
            paper, value = paper / published["n_patients"], value / results["n_patients"]
        digits = 0 if key == "n_organs" else 2
        tolerance = TOLERANCE
        if results.get("requested_patients") and noise_count and results.get(noise_count):
            tolerance += SAMPLING_SES / math.sqrt(results[noise_count])
        within = _relative(value, paper) <= tolerance
        items.append(
            ledger.Finding(
                key,
                f"{label[0].upper()}{label[1:]} (within {100 * tolerance:.0f}% of the paper)",
                f"{paper:,.{digits}f}",
                f"{value:,.{digits}f}",
                origin,
                within,
                how=CALIBRATION if key != "mean_age" else "cohort spec: demographics, age distribution",
            )
        )
    return items
