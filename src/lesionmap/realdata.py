"""Real tumour-size data: Laleh et al. 2022 (PLoS Comput Biol 18(2): e1009822, S1 Data, CC BY 4.0).

1,472 patients of five atezolizumab/docetaxel trials (FIR, POPLAR, BIRCH, OAK, IMvigor210), with the sum of
the longest diameters (SLD) of the target lesions at each visit: patient-level, not lesion-level.

Text values are parsed deliberately: ``TOO SMALL TO MEASURE`` and a recorded ``0`` are below the limit of
quantification (RECIST's default size for a lesion too small to measure, 5 mm, is the limit); ``NOT
EVALUABLE`` and empty values are not measurements and are set aside and counted, never dropped silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "laleh2022" / "laleh2022_S1_tumor_data.csv"
STUDIES = {1: "FIR", 2: "POPLAR", 3: "BIRCH", 4: "OAK", 5: "IMvigor210"}
#: SLD (mm) below which a value is below the limit of quantification (RECIST 1.1's default for too small).
SLD_LOQ_MM = 5.0
CITATION = (
    "Ghaffari Laleh N, Loeffler CML, Grajek J, et al. Classical mathematical models for prediction of "
    "response to chemotherapy and immunotherapy. PLoS Comput Biol 18(2): e1009822 (2022). S1 Data, CC BY 4.0."
)


def load_laleh2022(path: Path = DATA_FILE, loq_mm: float = SLD_LOQ_MM) -> tuple[pd.DataFrame, dict[str, int]]:
    """The visits as a long table, and the count of every value set aside.

    Columns: ``patient_id`` (sheet and anonymised id: an id can recur across studies), ``study``, ``arm``,
    ``day`` (days since the start of treatment), ``time`` (days since the patient's first usable visit, the
    model's t = 0), ``sld_mm`` (the value; the limit when below it), ``blq``, ``raw`` (the text as written).
    """
    raw = pd.read_csv(path, dtype={"TargetLesionLongDiam_mm": str})
    text = raw["TargetLesionLongDiam_mm"].str.strip().str.upper()
    value = pd.to_numeric(text, errors="coerce")
    too_small = text.eq("TOO SMALL TO MEASURE")
    not_evaluable = text.eq("NOT EVALUABLE")
    missing = text.isna()
    unknown = value.isna() & ~too_small & ~not_evaluable & ~missing
    if unknown.any():
        rows = ", ".join(str(i + 2) for i in np.flatnonzero(unknown)[:10])
        raise ValueError(
            f"{path.name}, column TargetLesionLongDiam_mm, rows {rows}: unknown text value(s) "
            f"{sorted(text[unknown].unique())}"
        )
    no_day = raw["Treatment_Day"].isna()
    usable = ~(not_evaluable | missing | no_day)
    study_number = raw["Study_Arm"].str.extract(r"Study_(\d+)_Arm_(\d+)").astype(int)
    table = pd.DataFrame(
        {
            "patient_id": raw["sheet"] + ":" + raw["Patient_Anonmyized"].astype(str),
            "study": study_number[0].map(STUDIES),
            "arm": raw["Study_Arm"],
            "day": raw["Treatment_Day"],
            "blq": too_small | (value < loq_mm),
            "sld_mm": np.where(too_small | (value < loq_mm), loq_mm, value),
            "raw": raw["TargetLesionLongDiam_mm"],
        }
    )[usable.to_numpy()]
    table = table.sort_values(["patient_id", "day"], kind="stable").reset_index(drop=True)
    table["time"] = table["day"] - table.groupby("patient_id")["day"].transform("min")
    duplicated = table.duplicated(["patient_id", "day"], keep="first")
    report = {
        "rows in the file": len(raw),
        "NOT EVALUABLE (set aside)": int(not_evaluable.sum()),
        "empty value (set aside)": int(missing.sum()),
        "no treatment day (set aside)": int((no_day & ~not_evaluable & ~missing).sum()),
        "second value on the same day (set aside)": int(duplicated.sum()),
    }
    table = table[~duplicated].reset_index(drop=True)
    kept_too_small = table["raw"].str.strip().str.upper().eq("TOO SMALL TO MEASURE")
    report["TOO SMALL TO MEASURE (below LOQ)"] = int(kept_too_small.sum())
    report["recorded 0 or under 5 mm (below LOQ)"] = int((table["blq"] & ~kept_too_small).sum())
    report["visits analysed"] = len(table)
    report["patients analysed"] = int(table["patient_id"].nunique())
    return table, report
