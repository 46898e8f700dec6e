"""The SDTM writer: domains, variables, formats, XPT limits, and that the files encode the analysis tables.

The round-trip check below derives the analysis tables from the written files with the rules of the contract
page (book/appendix/sdtm_input.md) only, independently of the simulator's own derivation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from lesionmap import tables as contract
from lesionmap.cohort import sdtm_domains, simulate, write_sdtm
from lesionmap.cohort.sdtm_writer import DOMAINS, check_xpt_limits, study_day
from lesionmap.cohort.spec import load_site_map

#: Variables the contract page says the reader uses, per domain.
REQUIRED = {
    "dm": {"STUDYID", "USUBJID", "RFSTDTC", "AGE", "SEX", "RACE", "ARM"},
    "suppdm": {"USUBJID", "QNAM", "QVAL"},
    "tu": {"USUBJID", "TULNKID", "TUORRES", "TULOC", "TUEVAL", "TUDY", "TUDTC"},
    "tr": {
        "USUBJID",
        "TRLNKID",
        "TRTESTCD",
        "TRORRES",
        "TRSTRESC",
        "TRSTRESN",
        "TRSTAT",
        "TREVAL",
        "TREVALID",
        "TRACPTFL",
        "VISITNUM",
        "TRDY",
        "TRDTC",
    },
    "rs": {"USUBJID", "RSTESTCD", "RSSTRESC", "RSEVAL", "VISITNUM", "RSDY", "RSDTC"},
    "adtte": {"USUBJID", "PARAMCD", "AVAL", "CNSR"},
}
TUMSTATE = {"ABSENT": "CR", "PRESENT": "non-CR/non-PD", "UNEQUIVOCAL PROGRESSION": "PD"}


@pytest.fixture(scope="module")
def cohort():
    return simulate("mcrc", n_patients=150, seed=5)


@pytest.fixture(scope="module")
def domains(cohort):
    return sdtm_domains(cohort)


@pytest.fixture(scope="module")
def written(cohort, tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdtm")
    return {fmt: write_sdtm(cohort, folder / fmt, fmt=fmt) for fmt in ("xpt", "csv", "parquet")}


def read_domain(path) -> pd.DataFrame:
    if path.suffix == ".xpt":
        frame = pyreadstat.read_xport(str(path))[0]
    elif path.suffix == ".csv":
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    else:
        frame = pd.read_parquet(path)
    text = frame.columns[frame.dtypes == object]
    frame[text] = frame[text].fillna("")
    return frame


def analysis_day(study_days) -> np.ndarray:
    study_days = np.asarray(study_days, dtype=np.int64)
    return np.where(study_days > 0, study_days - 1, study_days)


def tables_from_sdtm(files: dict) -> dict[str, pd.DataFrame]:
    """The analysis tables by the contract's rules (evaluator from the site map, both exclusion rules)."""
    site_map = load_site_map()
    organ_of = {term.upper(): organ for organ, terms in site_map["site_map"].items() for term in terms}
    words = [w.upper() for w in site_map["arm_map"]["targeted_words"]]
    dm, supp, tu, tr, rs, adtte = (read_domain(files[name]) for name in DOMAINS)
    tr = tr[tr["TREVAL"] == site_map["evaluator"]].assign(day=lambda f: analysis_day(f["TRDY"]))
    tr = tr.assign(lesion_id=tr["USUBJID"] + "/" + tr["TRLNKID"])
    rs = rs[rs["RSEVAL"] == site_map["evaluator"]]
    done = tr[tr["TRSTAT"] != "NOT DONE"]
    baseline, last = tr.groupby("USUBJID")["day"].min(), tr.groupby("USUBJID")["day"].max()
    qualifiers = supp.pivot(index="USUBJID", columns="QNAM", values="QVAL")
    ids = dm["USUBJID"]
    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "trial": dm["STUDYID"],
            "arm": dm["ARM"],
            "treatment_group": np.where(
                [any(w in arm.upper() for w in words) for arm in dm["ARM"]], "TAR+Chemo", "Chemo alone"
            ),
            "line": ids.map(qualifiers["LINE"]).astype(np.int64),
            "age": dm["AGE"].astype(float),
            "sex": dm["SEX"],
            "race": dm["RACE"],
            "bmi": ids.map(qualifiers["BMI"]).astype(float),
            "kras": ids.map(qualifiers["KRAS"]).map({"WILD-TYPE": "wild-type", "MUTANT": "mutant"}).fillna("unknown"),
            "prior_surgery": ids.map(qualifiers["PRSURG"]) == "Y",
            "baseline_day": ids.map(baseline).astype(np.int64),
            "last_day": ids.map(last).astype(np.int64),
        }
    )
    for code in ("OS", "PFS"):
        rows = adtte[adtte["PARAMCD"] == code].set_index("USUBJID")
        patients[f"{code.lower()}_days"] = ids.map(rows["AVAL"]).astype(float)
        patients[f"{code.lower()}_event"] = ids.map(rows["CNSR"]) == 0
    rank = rs["RSSTRESC"].map({r: i for i, r in enumerate(contract.RECIST_RESPONSES)})
    best = rank.groupby(rs["USUBJID"]).min()
    patients["recist_bor"] = ids.map(best).map(lambda i: contract.RECIST_RESPONSES[int(i)] if pd.notna(i) else "NE")
    dated = rs.assign(day=analysis_day(rs["RSDY"]))
    dated = dated[dated["day"] > 0]
    for column, terms in (("recist_response_day", ["CR", "PR"]), ("recist_progression_day", ["PD"])):
        first = dated[dated["RSSTRESC"].isin(terms)].groupby("USUBJID")["day"].min()
        patients[column] = ids.map(first).astype(float)

    sizes = done[done["TRTESTCD"].isin(["LDIAM", "LPERP"])]
    volume, blq = contract.measured_volume(
        sizes["TRSTRESN"].to_numpy(float), (sizes["TRORRES"] == "TOO SMALL TO MEASURE").to_numpy()
    )
    measurements = pd.DataFrame(
        {
            "lesion_id": sizes["lesion_id"].to_numpy(),
            "patient_id": sizes["USUBJID"].to_numpy(),
            "day": sizes["day"].to_numpy(),
            "diameter_mm": sizes["TRSTRESN"].to_numpy(float),
            "volume_mm3": volume,
            "blq": blq,
        }
    )
    first_day = measurements["patient_id"].map(baseline)
    per_lesion = measurements.assign(
        at_baseline=measurements["day"] == first_day, later=measurements["day"] > first_day
    )
    per_lesion = per_lesion.groupby(["patient_id", "lesion_id"])[["at_baseline", "later"]].any()
    longitudinal = set(per_lesion[per_lesion["at_baseline"] & per_lesion["later"]].index.get_level_values(0))
    reason = np.where(
        patients["baseline_day"] < -84,
        contract.EXCLUSION_RULES[0],
        np.where(patients["patient_id"].isin(longitudinal), "", contract.EXCLUSION_RULES[1]),
    )
    kept = set(patients["patient_id"][reason == ""])

    tu = tu[tu["USUBJID"].isin(kept)]
    organ = tu["TULOC"].str.strip().str.upper().map(organ_of)
    lesions = pd.DataFrame(
        {
            "lesion_id": (tu["USUBJID"] + "/" + tu["TULNKID"]).to_numpy(),
            "patient_id": tu["USUBJID"].to_numpy(),
            "kind": tu["TUORRES"].map({"TARGET": "target", "NON-TARGET": "non-target", "NEW": "new"}).to_numpy(),
            "organ": organ.to_numpy(),
            "location": tu["TULOC"].to_numpy(),
            "nodal": organ.isin(site_map["nodal"]).to_numpy(),
            "detected_day": analysis_day(tu["TUDY"]),
        }
    )
    states = done[(done["TRTESTCD"] == "TUMSTATE") & done["USUBJID"].isin(kept)]
    status = pd.DataFrame(
        {
            "lesion_id": states["lesion_id"].to_numpy(),
            "patient_id": states["USUBJID"].to_numpy(),
            "day": states["day"].to_numpy(),
            "status": states["TRORRES"].map(TUMSTATE).to_numpy(),
        }
    )

    def tidy(frame, keys):
        return frame.sort_values(keys, kind="stable").reset_index(drop=True)

    return {
        "patients": tidy(patients[patients["patient_id"].isin(kept)], "patient_id")[list(contract.PATIENT_COLUMNS)],
        "lesions": tidy(lesions, "lesion_id"),
        "measurements": tidy(measurements[measurements["patient_id"].isin(kept)], ["lesion_id", "day"]),
        "lesion_status": tidy(status, ["lesion_id", "day"]),
        "exclusions": tidy(
            pd.DataFrame(
                {"patient_id": patients["patient_id"][reason != ""].to_numpy(), "reason": reason[reason != ""]}
            ),
            "patient_id",
        ),
    }


@pytest.mark.parametrize("fmt", ["xpt", "csv", "parquet"])
def test_written_files_encode_the_analysis_tables_exactly(written, cohort, fmt):
    derived = tables_from_sdtm(written[fmt])
    for name, table in cohort.tables.items():
        pd.testing.assert_frame_equal(derived[name], table, check_exact=True, obj=f"{fmt} {name}")


@pytest.mark.parametrize("fmt", ["xpt", "csv", "parquet"])
def test_every_domain_has_the_required_variables(written, fmt):
    assert set(written[fmt]) == set(DOMAINS)
    for name, path in written[fmt].items():
        assert path.name == f"{name}.{fmt}"
        assert REQUIRED[name] <= set(read_domain(path).columns), name


def test_xpt_files_respect_the_version_5_limits(written):
    for name, path in written["xpt"].items():
        frame, meta = pyreadstat.read_xport(str(path))
        assert meta.table_name == name.upper()
        assert all(len(column) <= 8 for column in frame.columns)
        assert all(len(label) <= 40 for label in meta.column_labels)
        text = frame.columns[frame.dtypes == object]
        assert all(frame[c].str.len().max() <= 200 for c in text)
    with pytest.raises(ValueError, match="longer than 8"):
        check_xpt_limits("TR", pd.DataFrame({"TRLONGNAME": ["x"]}))
    with pytest.raises(ValueError, match="XPT limit 200"):
        check_xpt_limits("TR", pd.DataFrame({"TRORRES": ["x" * 201]}))


def test_unknown_format_is_refused(cohort, tmp_path):
    with pytest.raises(ValueError, match="xpt, csv, parquet"):
        write_sdtm(cohort, tmp_path, fmt="sas")


def test_study_days_and_dates_agree(domains):
    dm = domains["dm"].set_index("USUBJID")
    assert study_day(np.array([-3, 0, 5])).tolist() == [-3, 1, 6]
    for name, prefix in (("tr", "TR"), ("tu", "TU"), ("rs", "RS")):
        frame = domains[name]
        assert (frame[f"{prefix}DY"] != 0).all()
        start = pd.to_datetime(frame["USUBJID"].map(dm["RFSTDTC"]))
        offset = (pd.to_datetime(frame[f"{prefix}DTC"]) - start).dt.days
        assert (analysis_day(frame[f"{prefix}DY"]) == offset).all(), name
    died = dm[dm["DTHFL"] == "Y"]
    assert len(died) > 0 and (died["DTHDTC"] != "").all()


def test_two_evaluators_and_realistic_records(domains):
    tr = domains["tr"]
    independent = tr[tr["TREVAL"] == "INDEPENDENT ASSESSOR"]
    investigator = tr[tr["TREVAL"] == "INVESTIGATOR"]
    assert len(independent) == len(investigator)
    assert (independent["TRACPTFL"] == "Y").all() and (investigator["TRACPTFL"] == "").all()
    assert (independent["TREVALID"] == "RADIOLOGIST 1").all()
    keys = ["USUBJID", "TRLNKID", "VISITNUM"]
    pair = independent.merge(investigator, on=keys, suffixes=("", "_inv"))
    numeric = pair["TRSTRESN"].notna() & pair["TRSTRESN_inv"].notna()
    differs = (pair.loc[numeric, "TRSTRESN"] != pair.loc[numeric, "TRSTRESN_inv"]).mean()
    assert 0.2 < differs < 1.0
    assert (
        abs(pair.loc[numeric, "TRSTRESN"] - pair.loc[numeric, "TRSTRESN_inv"])
        <= 0.25 * pair.loc[numeric, "TRSTRESN"] + 0.2
    ).all()
    not_done = tr["TRSTAT"] == "NOT DONE"
    assert not_done.any() and (tr.loc[not_done, "TRORRES"] == "").all() and tr.loc[not_done, "TRSTRESN"].isna().all()
    assert set(tr["TRTESTCD"]) == {"LDIAM", "LPERP", "TUMSTATE"}
    assert set(tr.loc[tr["TRTESTCD"] == "TUMSTATE", "TRORRES"]) <= set(TUMSTATE) | {""}
    rs = domains["rs"]
    assert set(rs["RSEVAL"]) == {"INDEPENDENT ASSESSOR", "INVESTIGATOR"} and set(rs["RSTESTCD"]) == {"OVRLRESP"}


def test_locations_links_and_subjects_are_consistent(domains, cohort):
    site_map = load_site_map()
    terms = {term.upper() for values in site_map["site_map"].values() for term in values}
    tu, tr, dm = domains["tu"], domains["tr"], domains["dm"]
    assert tu["TULOC"].str.upper().isin(terms).all()
    assert dm["USUBJID"].is_unique and len(dm) == len(cohort.patients) + len(cohort.exclusions)
    assert set(zip(tr["USUBJID"], tr["TRLNKID"])) == set(zip(tu["USUBJID"], tu["TULNKID"]))
    assert set(domains["adtte"]["PARAMCD"]) == {"OS", "PFS"} and len(domains["adtte"]) == 2 * len(dm)
    assert set(domains["suppdm"]["QNAM"]) == set(site_map["supp_qualifiers"])
    assert set(tu["TUORRES"]) == {"TARGET", "NON-TARGET", "NEW"}
    assert (tu.groupby("USUBJID")["TUSEQ"].min() == 1).all() and tu.groupby("USUBJID")[
        "TUSEQ"
    ].is_monotonic_increasing.all()


def test_full_scale_domains_hold_every_kind_of_record():
    """At the paper's scale every record type the reader must handle occurs (TOO SMALL, NOT DONE)."""
    tr = sdtm_domains(simulate("mcrc"))["tr"]
    assert {"TOO SMALL TO MEASURE", ""} <= set(tr["TRORRES"])


def test_vanished_lesions_are_written_as_zero():
    """Deliberately vanishing lesions (a 400 mm^3 threshold): the writer records them as size tests with 0."""
    from lesionmap.cohort import load_spec

    spec = load_spec("mcrc")
    spec.values["measurement"]["vanished_mm3"] = 400.0
    tr = sdtm_domains(simulate(spec, n_patients=200, seed=3))["tr"]
    zero = tr["TRORRES"] == "0"
    assert zero.sum() > 20
    assert tr.loc[zero, "TRTESTCD"].isin(["LDIAM", "LPERP"]).all() and (tr.loc[zero, "TRSTRESN"] == 0).all()
