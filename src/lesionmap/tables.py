"""The analysis tables: the contract between the stages of the pipeline.

Every stage reads the tables of the stage before it and writes its own (GUIDE section 4).
Column names are fixed here and nowhere else; ``lesionmap.io.schemas`` validates them.

Days are days since the start of treatment (day 0 = first dose; SDTM study day 1 is day 0,
SDTM study day -3 is day -3). Sizes are in millimetres, volumes in cubic millimetres.
"""

from __future__ import annotations

#: Volume of an ellipsoid with long/short axis ratio 1.31, from its longest diameter L (mm):
#: V = L (L / 1.31)^2 / 2 = 0.2914 L^3 (paper, Methods).
VOLUME_COEFFICIENT = 0.2914

#: Volumes below this (mm^3) are below the limit of quantification (paper, Methods; M3).
DEFAULT_LOQ_MM3 = 200.0

#: Treatment groups of the paper.
TREATMENT_GROUPS = ("TAR+Chemo", "Chemo alone")

#: Lesion kinds.
LESION_KINDS = ("target", "non-target", "new")

#: Lesion statuses of non-target (and new) lesions, from TR TUMSTATE or RS.
LESION_STATUSES = ("CR", "PR", "SD", "non-CR/non-PD", "PD")

#: Patient RECIST best overall responses.
RECIST_RESPONSES = ("CR", "PR", "SD", "PD", "NE")

#: ``patients``: one row per patient kept for analysis.
PATIENT_COLUMNS = {
    "patient_id": "str: USUBJID",
    "trial": "str: STUDYID",
    "arm": "str: ARM as written in DM",
    "treatment_group": "str: 'TAR+Chemo' or 'Chemo alone' (from the arm map)",
    "line": "int: line of therapy, 1 or 2",
    "age": "float: years",
    "sex": "str: 'M' or 'F'",
    "race": "str: CDISC race term, e.g. 'WHITE'",
    "bmi": "float: kg/m^2 (NaN where not recorded)",
    "kras": "str: 'wild-type', 'mutant' or 'unknown'",
    "prior_surgery": "bool: surgical history",
    "baseline_day": "int: day of the baseline scan (<= 0)",
    "last_day": "int: last day on study (last tumour assessment)",
    "os_days": "float: overall survival time",
    "os_event": "bool: death observed",
    "pfs_days": "float: progression-free survival time",
    "pfs_event": "bool: progression or death observed",
    "recist_bor": "str: best overall RECIST response (CR, PR, SD, PD, NE)",
    "recist_response_day": "float: first overall RECIST CR or PR after the first dose (RS); NaN if none",
    "recist_progression_day": "float: first overall RECIST PD after the first dose (RS); NaN if none",
}

#: ``lesions``: one row per lesion (target, non-target and new).
LESION_COLUMNS = {
    "lesion_id": "str: USUBJID + '/' + TULNKID",
    "patient_id": "str",
    "kind": "str: 'target', 'non-target' or 'new'",
    "organ": "str: organ category (site map applied to TULOC)",
    "location": "str: TULOC as written",
    "nodal": "bool: a lymph node (measured by its short axis, LPERP)",
    "detected_day": "int: day first recorded (baseline day for target and non-target)",
}

#: ``measurements``: one row per target-lesion assessment.
MEASUREMENT_COLUMNS = {
    "lesion_id": "str",
    "patient_id": "str",
    "day": "int",
    "diameter_mm": "float: LDIAM (LPERP for nodes); NaN when recorded as too small to measure",
    "volume_mm3": "float: 0.2914 diameter^3; the LOQ when blq and the diameter is missing",
    "blq": "bool: volume below the limit of quantification (or 'TOO SMALL TO MEASURE')",
}

#: ``lesion_status``: one row per non-target or new lesion assessment.
LESION_STATUS_COLUMNS = {
    "lesion_id": "str",
    "patient_id": "str",
    "day": "int",
    "status": "str: one of LESION_STATUSES",
}

#: ``exclusions``: one row per excluded patient, with the rule that excluded it.
EXCLUSION_COLUMNS = {
    "patient_id": "str",
    "reason": "str: 'no longitudinal target measurement' or 'baseline scan > 12 weeks before treatment'",
}

#: ``lesion_events``: one row per lesion and endpoint (made by ``lesionmap.events``).
LESION_EVENT_COLUMNS = {
    "lesion_id": "str",
    "patient_id": "str",
    "organ": "str",
    "kind": "str",
    "endpoint": "str: 'response' or 'progression'",
    "day": "float: event or censoring day",
    "event": "bool",
}

#: Exclusion rules of the paper, in the order they are applied.
EXCLUSION_RULES = (
    "baseline scan > 12 weeks before treatment",
    "no longitudinal target measurement",
)


def volume_from_diameter(diameter_mm):
    """Lesion volume (mm^3) from its longest diameter (mm): V = 0.2914 L^3.

    Works on scalars and arrays; a missing diameter gives a missing volume.
    """
    import numpy as np

    return VOLUME_COEFFICIENT * np.asarray(diameter_mm, dtype=float) ** 3


def measured_volume(diameter_mm, too_small, loq_mm3=DEFAULT_LOQ_MM3):
    """The ``volume_mm3`` and ``blq`` columns of ``measurements`` from recorded diameters.

    ``too_small`` marks records written as 'TOO SMALL TO MEASURE' (diameter missing). A measured volume
    under the LOQ is below the limit of quantification; a BLQ row with no diameter carries the LOQ as its
    volume (the M3 convention: y holds the LOQ). The simulator and the SDTM reader both call this, so the
    round trip simulate -> SDTM -> read gives identical tables.
    """
    import numpy as np

    volume = volume_from_diameter(diameter_mm)
    too_small = np.asarray(too_small, dtype=bool)
    blq = too_small | (volume < loq_mm3)
    volume = np.where(too_small, loq_mm3, volume)
    return volume, blq


#: Overall RECIST responses that date a patient's response, and the one that dates the progression.
RECIST_RESPONSE_TERMS = ("CR", "PR")
RECIST_PROGRESSION_TERM = "PD"


def first_recist_days(patient_ids, days, responses):
    """``recist_response_day`` and ``recist_progression_day`` by patient from overall responses (one per visit):
    the first CR or PR and the first PD after the first dose (day > 0). The simulator and the SDTM reader both
    call this, so the round trip gives identical columns."""
    import numpy as np
    import pandas as pd

    frame = pd.DataFrame(
        {"patient_id": np.asarray(patient_ids), "day": np.asarray(days, float), "response": np.asarray(responses)}
    )
    frame = frame[frame["day"] > 0]
    return pd.DataFrame(
        {
            "recist_response_day": frame[frame["response"].isin(RECIST_RESPONSE_TERMS)]
            .groupby("patient_id")["day"]
            .min(),
            "recist_progression_day": frame[frame["response"] == RECIST_PROGRESSION_TERM]
            .groupby("patient_id")["day"]
            .min(),
        }
    )
