"""Lesion-level times to response and progression, as the paper defines them (Methods).

- Target lesions: from each lesion's model prediction (its individual estimates): response when the predicted
  volume falls 20% below baseline, progression when it rises 30% above its nadir or 200 mm^3 above it. The
  prediction runs up to a horizon, a documented parameter (``HORIZONS``): by default the patient's last day
  known alive (death or data cut-off), because the trials' scans stop at the first RECIST progression and
  the paper derives target-lesion progression from the model; "last_scan" stops at the last scan.
- Non-target lesions (``NONTARGET_RULES``): by default as the paper's Methods say, response at the patient's
  first overall RECIST CR or PR and progression at the first overall PD (RS), for every non-target lesion of
  the patient; or ("lesion") at each lesion's own first CR/PR and first unequivocal progression (TR).
- New lesions: progression at detection (the progression endpoint only).
- No event: censored at the horizon (target lesions) or at the patient's last scan (the others).
"""

from lesionmap.events.derive import (
    DEFAULT_HORIZON,
    DEFAULT_NONTARGET_RULE,
    HORIZONS,
    NONTARGET_RULES,
    RESPONSE_STATUSES,
    horizon_days,
    lesion_events,
    new_lesion_events,
    nontarget_events,
    target_events,
)

__all__ = [
    "DEFAULT_HORIZON",
    "DEFAULT_NONTARGET_RULE",
    "HORIZONS",
    "NONTARGET_RULES",
    "RESPONSE_STATUSES",
    "horizon_days",
    "lesion_events",
    "target_events",
    "nontarget_events",
    "new_lesion_events",
]
