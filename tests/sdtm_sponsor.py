"""Test inputs in another sponsor's style, made by transforming the simulator's SDTM output (never the simulator).

``another_sponsor(folder, out)`` reads the simulator's CSV files and writes a package such as a real trial might
deliver: only DM, TU, TR, RS and SUPPTR (no SUPPDM, no ADTTE); lower-case column names; one STUDYID; study days
dropped (dates only), death dates given to the month (``2014-01``); the longest diameter coded ``DIAMETER``;
lesion locations only in SUPPTR (QNAM ``TRLOC``, keyed by ``TRSEQ``) with a few conflicting records; and the
evaluator fields left empty for the investigator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

STUDY = "SPONSOR-CRC-301"


def read_csv_folder(folder: Path) -> dict[str, pd.DataFrame]:
    """Every ``<domain>.csv`` of ``folder`` as text frames."""
    return {path.stem: pd.read_csv(path, dtype=str, keep_default_na=False) for path in sorted(folder.glob("*.csv"))}


def write_csv_folder(domains: dict[str, pd.DataFrame], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in domains.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def another_sponsor(source: Path, target: Path, n_conflicts: int = 3, seed: int = 0) -> dict:
    """Write ``source`` (the simulator's CSV SDTM) in another sponsor's style to ``target``.

    Returns what a reader must find: ``conflicts`` (lesions given a second, different location in a later
    record), ``first_locations`` (each lesion's identification location, by lesion id).
    """
    rng = np.random.default_rng(seed)
    domains = read_csv_folder(Path(source))
    dm, tu, tr, rs = (domains[name].copy() for name in ("dm", "tu", "tr", "rs"))
    for frame in (dm, tu, tr, rs):
        frame["STUDYID"] = STUDY
    dm["DTHDTC"] = dm["DTHDTC"].str.slice(0, 7)

    tr = tr.drop(columns=["TRDY"])
    tr["TRTESTCD"] = tr["TRTESTCD"].replace({"LDIAM": "DIAMETER"})
    location = pd.Series(tu["TULOC"].to_numpy(), index=tu["USUBJID"] + "/" + tu["TULNKID"])
    lesion = tr["USUBJID"] + "/" + tr["TRLNKID"]
    supptr = pd.DataFrame(
        {
            "STUDYID": STUDY,
            "RDOMAIN": "TR",
            "USUBJID": tr["USUBJID"],
            "IDVAR": "TRSEQ",
            "IDVARVAL": tr["TRSEQ"],
            "QNAM": "TRLOC",
            "QLABEL": "Location of the Tumor",
            "QVAL": lesion.map(location).fillna("").to_numpy(),
        }
    )
    later = np.flatnonzero(lesion.duplicated().to_numpy())
    chosen = rng.choice(later, size=n_conflicts, replace=False)
    chosen = chosen[~lesion.iloc[chosen].duplicated().to_numpy()]
    supptr.loc[chosen, "QVAL"] = np.where(supptr.loc[chosen, "QVAL"] == "PLEURA", "LIVER", "PLEURA")
    supptr = supptr[supptr["QVAL"] != ""].reset_index(drop=True)
    tu = tu.drop(columns=["TULOC", "TUDY"])
    tu["TUEVAL"] = ""
    tu["TUEVALID"] = ""
    for frame, prefix in ((tr, "TR"), (rs, "RS")):
        investigator = frame[f"{prefix}EVAL"] == "INVESTIGATOR"
        frame.loc[investigator, f"{prefix}EVAL"] = ""
    rs = rs.drop(columns=["RSDY"])

    styled = {"dm": dm, "tu": tu, "tr": tr, "rs": rs, "supptr": supptr}
    write_csv_folder({name: frame.rename(columns=str.lower) for name, frame in styled.items()}, Path(target))
    return {"conflicts": sorted(lesion.iloc[chosen].unique()), "first_locations": location}
