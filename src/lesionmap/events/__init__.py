"""Lesion-level times to response and progression, as the paper defines them (Methods).

- Target lesions: from each lesion's model prediction (its individual estimates): response when the predicted
  volume falls 20% below baseline, progression when it rises 30% above its nadir or 200 mm^3 above it. The
  prediction runs up to a horizon, a documented parameter (``HORIZONS``): by default the patient's last day
  known alive (death or data cut-off), because the trials' scans stop at the first RECIST progression and
  the paper derives target-lesion progression from the model; "last_scan" stops at the last scan.
- Non-target lesions: response at the first PR/CR status, progression at the first PD status.
- New lesions: progression at detection (the progression endpoint only).
- No event: censored at the horizon (target lesions) or at the patient's last scan (the others).
"""

from lesionmap.events.derive import (
    DEFAULT_HORIZON,
    HORIZONS,
    RESPONSE_STATUSES,
    horizon_days,
    lesion_events,
    new_lesion_events,
    nontarget_events,
    target_events,
)

__all__ = [
    "DEFAULT_HORIZON",
    "HORIZONS",
    "RESPONSE_STATUSES",
    "horizon_days",
    "lesion_events",
    "target_events",
    "nontarget_events",
    "new_lesion_events",
]
