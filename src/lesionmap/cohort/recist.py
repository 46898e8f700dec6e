"""Patient-level RECIST 1.1 overall response at each visit, vectorised over patients and visits.

Arrays are (patients x visits); visit 0 is the baseline scan. Responses are coded by their rank in
``RESPONSES`` (CR best, NE last), the order used for the best overall response (no confirmation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RESPONSES = ("CR", "PR", "SD", "PD", "NE")
CR, PR, SD, PD, NE = range(len(RESPONSES))


@dataclass(frozen=True)
class RecistRules:
    """The RECIST 1.1 thresholds the simulator applies (from the cohort spec)."""

    pd_increase: float = 0.20
    pd_absolute_mm: float = 5.0
    pr_decrease: float = 0.30


def overall_response(
    target_sum,
    target_missing,
    target_all_gone,
    has_targets,
    nontarget_pd,
    nontarget_all_absent,
    new_lesion,
    rules: RecistRules = RecistRules(),
):
    """RECIST overall response per patient and visit (codes into ``RESPONSES``; visit 0 gets NE).

    ``target_sum``: sum of target diameters (lesions too small to measure count their default size);
    ``target_missing``: a target lesion was not assessed; ``target_all_gone``: every target lesion is gone
    (non-nodal 0, nodes normal); ``nontarget_pd``: unequivocal progression of a non-target lesion;
    ``nontarget_all_absent``: every non-target lesion absent (or none); ``new_lesion``: a new lesion found.
    The nadir is the smallest sum among earlier evaluable visits, baseline included.
    """
    target_sum = np.asarray(target_sum, dtype=float)
    evaluable_sum = np.where(target_missing, np.inf, target_sum)
    running_min = np.minimum.accumulate(evaluable_sum, axis=1)
    nadir = np.concatenate([np.full((target_sum.shape[0], 1), np.inf), running_min[:, :-1]], axis=1)
    baseline = target_sum[:, :1]
    has_targets = np.asarray(has_targets, dtype=bool)[:, None]

    target_pd = (
        ~target_missing & (target_sum >= (1 + rules.pd_increase) * nadir) & (target_sum - nadir >= rules.pd_absolute_mm)
    )
    target_pd &= has_targets
    progression = target_pd | nontarget_pd | new_lesion
    target_response = np.where(target_all_gone, CR, np.where(target_sum <= (1 - rules.pr_decrease) * baseline, PR, SD))
    with_targets = np.where(target_response == CR, np.where(nontarget_all_absent, CR, PR), target_response)
    # Disease with non-target lesions only: CR when all are absent, otherwise non-CR/non-PD (coded SD).
    without_targets = np.where(nontarget_all_absent, CR, SD)
    overall = np.where(has_targets, with_targets, without_targets)
    overall = np.where(has_targets & target_missing, NE, overall)
    overall = np.where(progression, PD, overall)
    overall[:, 0] = NE
    return overall


def best_response(responses, valid):
    """Best overall response over the valid follow-up visits (visit 0 is baseline); NE when there is none."""
    codes = np.where(valid, responses, NE)
    codes[:, 0] = NE
    return codes.min(axis=1)  # codes rank CR > PR > SD > PD > NE
