"""Lesion-level times to response and progression, as the paper defines them (Methods).

- Target lesions: from each lesion's model prediction (its individual estimates): response when the predicted
  volume falls 20% below baseline, progression when it rises 30% above its nadir or 200 mm^3 above it.
- Non-target lesions: response at the first PR/CR status, progression at the first PD status.
- New lesions: progression at detection (the progression endpoint only).
- No event: censored at the patient's last day on study. No event is placed beyond it.
"""

from lesionmap.events.derive import (
    RESPONSE_STATUSES,
    lesion_events,
    nontarget_events,
    new_lesion_events,
    target_events,
)

__all__ = ["RESPONSE_STATUSES", "lesion_events", "target_events", "nontarget_events", "new_lesion_events"]
