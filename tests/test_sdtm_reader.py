"""The SDTM reader on hand-made SDTM (tests/sdtm_factory.py) in every format, and on a simulated cohort.

The hand-made cohort's tables are written out by hand in the factory; the simulated cohort's tables come
from the simulator (which derives them from its own records, not through this reader).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandera.errors
import pytest
import yaml

import sdtm_factory as factory
from lesionmap import tables as contract
from lesionmap.io import AnalysisData, MappingError, TableLinkError, load_mapping, read_sdtm, validate_tables
from lesionmap.io.sitemap import DEFAULT_MAP_FILE, mapping_from_dict

FORMATS = ("xpt", "csv", "parquet")
VARIANTS = {
    "study days": lambda domains: domains,
    "dates only": factory.dates_only,
    "locations in SUPPTR by TRLNKID": factory.locations_in_supptr,
    "locations in SUPPTR by TRSEQ": lambda domains: factory.locations_in_supptr(domains, idvar="TRSEQ"),
}


def read(domains, tmp_path, fmt="csv", **options) -> AnalysisData:
    return read_sdtm(factory.write_domains(domains, tmp_path / fmt, fmt), **options)


def assert_tables(data: AnalysisData, expected: dict[str, pd.DataFrame]) -> None:
    for name, table in expected.items():
        pd.testing.assert_frame_equal(getattr(data, name), table, check_exact=False, rtol=1e-12, obj=name)


def set_aside(data: AnalysisData) -> dict[str, int]:
    return {reason: count for reason, count in data.report["set_aside"].items() if count}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_hand_made_sdtm_gives_the_hand_written_tables(tmp_path, fmt, variant):
    data = read(VARIANTS[variant](factory.build_domains()), tmp_path, fmt)
    assert_tables(data, factory.expected_tables())
    expected_aside = dict(factory.EXPECTED_SET_ASIDE)
    if "SUPPTR" in variant:
        expected_aside["SUPPTR records of other qualifiers"] = 1
    assert set_aside(data) == expected_aside
    assert data.report["excluded_records"] == factory.EXPECTED_EXCLUDED_RECORDS
    assert data.report["files"]["tr"] == f"tr.{fmt}"


def test_file_names_are_matched_case_insensitively(tmp_path):
    folder = factory.write_domains(factory.build_domains(), tmp_path, "xpt")
    for path in folder.iterdir():
        path.rename(path.with_name(path.name.upper()))
    data = read_sdtm(folder)
    assert_tables(data, factory.expected_tables())
    assert data.report["files"]["dm"] == "DM.XPT"


def test_every_tr_record_is_used_or_counted(tmp_path):
    data = read(factory.build_domains(), tmp_path)
    tr_counts = sum(count for reason, count in data.report["set_aside"].items() if reason.startswith("TR "))
    excluded = data.report["excluded_records"]
    used = (
        len(data.measurements) + len(data.lesion_status) + excluded["target measurements"] + excluded["lesion statuses"]
    )
    assert used + tr_counts == len(factory.build_domains()["tr"])


def test_consort_and_report_are_json_ready(tmp_path):
    data = read(factory.build_domains(), tmp_path)
    assert data.consort() == {
        "screened": 5,
        "excluded": {contract.EXCLUSION_RULES[0]: 1, contract.EXCLUSION_RULES[1]: 2},
        "analysed": 2,
        "lesions": {"target": 3, "non-target": 2, "new": 1},
        "measurements": 8,
        "lesion_statuses": 5,
    }
    assert json.loads(json.dumps(data.report))["consort"]["analysed"] == 2
    counts = data.report_counts()
    assert counts["TR records NOT DONE"] == 1 and counts["lesions of excluded patients"] == 2
    assert all(isinstance(value, int) for value in counts.values())


def test_tables_survive_a_parquet_cache(tmp_path):
    """The pipeline caches the tables as Parquet and the report as JSON; the reloaded data still validate."""
    data = read(factory.build_domains(), tmp_path)
    reloaded = {}
    for name, table in data.tables().items():
        table.to_parquet(tmp_path / f"{name}.parquet", index=False)
        reloaded[name] = pd.read_parquet(tmp_path / f"{name}.parquet")
    again = AnalysisData(**reloaded, report=json.loads(json.dumps(data.report))).validate()
    assert again.consort() == data.consort()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    from lesionmap.cohort import simulate, write_sdtm

    cohort = simulate("mcrc", n_patients=150, seed=11)
    folder = tmp_path_factory.mktemp("simulated")
    return cohort, {fmt: write_sdtm(cohort, folder / fmt, fmt=fmt)["dm"].parent for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_simulated_cohort_round_trips_exactly(simulated, fmt):
    cohort, folders = simulated
    data = read_sdtm(folders[fmt])
    for name, table in cohort.tables.items():
        if name == "patients":  # the reader's covariates are nullable: a trial may not record them
            table = table.astype({"line": "Int64", "prior_surgery": "boolean"})
        pd.testing.assert_frame_equal(getattr(data, name), table, check_exact=True, obj=f"{fmt} {name}")
    assert data.report["set_aside"]["TR records NOT DONE"] > 0
    assert data.report["set_aside"]["TR records by other evaluators"] > 0


def test_accepted_records_and_evaluator_ids_choose_the_same_reader(tmp_path):
    domains = factory.build_domains()
    expected = factory.expected_tables()
    assert_tables(read(domains, tmp_path / "accepted", evaluator="accepted"), expected)
    assert_tables(read(domains, tmp_path / "by id", evaluator="all", evaluator_id="radiologist 1"), expected)


def test_another_evaluator_gives_that_evaluators_readings(tmp_path):
    data = read(factory.build_domains(), tmp_path, evaluator="INVESTIGATOR")
    assert data.measurements["diameter_mm"].tolist() == [31.0, 21.0, 5.0, 10.5, 1.0]
    assert data.measurements["blq"].tolist() == [False, False, True, False, True]
    assert data.patients["recist_bor"].tolist() == ["CR", "NE"]
    assert data.lesion_status.empty
    # S1-003 has no INVESTIGATOR reading, so no baseline scan: rule 2, not rule 1.
    assert data.exclusions["reason"].tolist() == [contract.EXCLUSION_RULES[1]] * 3
    assert data.report["set_aside"]["TR records by other evaluators"] == 20


def test_tu_records_of_another_evaluator_are_set_aside(tmp_path):
    domains = factory.build_domains()
    second_reader = domains["tu"][domains["tu"]["USUBJID"] == "S1-001"].assign(TUEVAL="INVESTIGATOR", TULOC="BONE")
    domains["tu"] = pd.concat([domains["tu"], second_reader], ignore_index=True)
    data = read(domains, tmp_path)
    assert_tables(data, factory.expected_tables())
    assert data.report["set_aside"]["TU records by other evaluators"] == 4


def test_records_the_analysis_does_not_use_are_counted_not_kept(tmp_path):
    domains = factory.build_domains()
    tr = domains["tr"]
    extra = pd.concat(
        [
            tr.iloc[[0]].assign(TRTESTCD="LPERP", TRSTRESN=20.0),  # short axis of a liver lesion
            tr.iloc[[3]].assign(TRTESTCD="LDIAM", TRSTRESN=9.0),  # a diameter of a non-target lesion
            tr.iloc[[0]].assign(TRTESTCD="TUMSTATE", TRORRES="PRESENT", TRSTRESC="PRESENT", TRSTRESN=np.nan),
            tr.iloc[[12]].assign(TRDY=20.0, TRORRES="NE", TRSTRESC="NE", TRSTRESN=np.nan),  # target NOT EVALUABLE
        ],
        ignore_index=True,
    )
    domains["tr"] = pd.concat([tr, extra], ignore_index=True)
    data = read(domains, tmp_path)
    assert_tables(data, factory.expected_tables())
    counts = data.report["set_aside"]
    assert counts["TR LPERP records of non-nodal target lesions (LDIAM used)"] == 1
    assert counts["TR size records of non-target or new lesions"] == 1
    assert counts["TR TUMSTATE records of target lesions"] == 1
    assert counts["TR target results NOT EVALUABLE"] == 1


def test_text_results_statuses_and_responses_written_other_ways(tmp_path):
    domains = factory.build_domains()
    tr, rs = domains["tr"], domains["rs"]
    tr.loc[8, "TRSTRESC"] = ""  # TOO SMALL TO MEASURE in TRORRES only
    tr.loc[[3, 7], ["TRORRES", "TRSTRESC"]] = "non-cr/non-pd"  # a status written directly, in lower case
    tr.loc[11, ["TRORRES", "TRSTRESC"]] = "PD"
    rs.loc[4, ["RSORRES", "RSSTRESC"]] = "NON-CR/NON-PD"  # RECIST counts it as stable disease
    data = read(domains, tmp_path)
    expected = factory.expected_tables()
    expected["patients"].loc[1, ["recist_bor", "recist_response_day"]] = ["SD", np.nan]
    assert_tables(data, expected)


def test_study_day_one_is_day_zero_and_dates_agree(tmp_path):
    domains = factory.build_domains()
    tr = domains["tr"]
    moved = (tr["USUBJID"] == "S1-001") & (tr["TRDY"] == 43)
    tr.loc[moved, "TRDY"] = 1.0
    tr.loc[moved, "TRDTC"] = factory.iso_date("S1-001", 0)
    by_days = read(domains, tmp_path / "days")
    by_dates = read(factory.dates_only(domains), tmp_path / "dates")
    for data in (by_days, by_dates):
        assert data.measurements.loc[data.measurements["lesion_id"] == "S1-001/T01", "day"].tolist() == [-7, 0, 84]


@pytest.mark.parametrize(("baseline_study_day", "excluded"), [(-84, False), (-85, True)])
def test_the_twelve_week_rule_boundary(tmp_path, baseline_study_day, excluded):
    domains = factory.build_domains()
    for name, prefix in (("tr", "TR"), ("tu", "TU")):
        frame = domains[name]
        baseline = (frame["USUBJID"] == "S1-003") & (frame[f"{prefix}DY"] == -100)
        frame.loc[baseline, f"{prefix}DY"] = float(baseline_study_day)
    data = read(domains, tmp_path)
    assert ("S1-003" in set(data.exclusions["patient_id"])) == excluded
    if not excluded:
        assert data.patients.set_index("patient_id").loc["S1-003", "baseline_day"] == -84


def test_a_patient_meeting_both_rules_is_counted_under_the_first(tmp_path):
    domains = factory.build_domains()
    tr = domains["tr"]
    domains["tr"] = tr[~((tr["USUBJID"] == "S1-003") & (tr["TRDY"] == 11))].reset_index(drop=True)
    data = read(domains, tmp_path)
    reasons = data.exclusions.set_index("patient_id")["reason"]
    assert reasons["S1-003"] == contract.EXCLUSION_RULES[0]
    assert data.consort()["excluded"] == {contract.EXCLUSION_RULES[0]: 1, contract.EXCLUSION_RULES[1]: 2}


def test_loq_sets_which_measurements_are_below_quantification(tmp_path):
    data = read(factory.build_domains(), tmp_path, loq_mm3=100.0)
    assert data.measurements["blq"].tolist() == [False, False, True, False, False, False, False, True]
    assert data.measurements["volume_mm3"].iloc[2] == 100.0


def test_unknown_locations_go_to_other_only_when_asked(tmp_path):
    domains = factory.build_domains()
    domains["tu"].loc[5, "TULOC"] = "Mars"
    data = read(domains, tmp_path, unknown_location="other")
    lesion = data.lesions.set_index("lesion_id").loc["S1-002/NT01"]
    assert (lesion["organ"], lesion["location"], lesion["nodal"]) == ("other", "Mars", False)
    assert data.report["unknown_locations"] == {"Mars": 1}
    assert data.report["set_aside"]["lesion locations filed under other (unknown TULOC)"] == 1
    with pytest.raises(ValueError, match="unknown_location must be 'error' or 'other'"):
        read(domains, tmp_path / "bad", unknown_location="drop")


def test_a_users_map_extends_sites_arms_and_qualifiers(tmp_path):
    raw = load_mapping_dict()
    raw["site_map"]["peritoneum"].append("Mars")
    raw["arm_map"]["targeted_words"] = ["FOLFIRI"]
    raw["supp_qualifiers"] = {"LINE": "line", "PRSURG": "prior_surgery", "ECOG": "bmi"}
    path = tmp_path / "my_map.yaml"
    path.write_text(yaml.safe_dump(raw))
    domains = factory.build_domains()
    domains["tu"].loc[5, "TULOC"] = "mars "
    data = read(domains, tmp_path, mapping=path)
    assert data.lesions.set_index("lesion_id").loc["S1-002/NT01", "organ"] == "peritoneum"
    assert data.patients["treatment_group"].tolist() == ["Chemo alone", "Chemo alone"]
    assert data.patients["bmi"].tolist()[1] == 1.0 and np.isnan(data.patients["bmi"].iloc[0])
    assert data.patients["kras"].tolist() == ["unknown", "unknown"]
    assert data.report["map"] == "my_map.yaml"
    assert data.report["set_aside"]["SUPPDM qualifiers the map does not use"] == 4


def load_mapping_dict() -> dict:
    return yaml.safe_load(DEFAULT_MAP_FILE.read_text())


def test_the_default_map_is_the_books_map():
    mapping = load_mapping()
    assert mapping.evaluator == "INDEPENDENT ASSESSOR" and mapping.evaluator_mode == "named"
    organs = mapping.organs(["liver", " Lymph node, iliac ", "nowhere"])
    assert organs.iloc[:2].tolist() == ["liver", "regional LN"] and pd.isna(organs.iloc[2])
    assert mapping.is_nodal(["regional LN", "distal LN", "liver"]).tolist() == [True, True, False]
    assert mapping.treatment_groups(["FOLFOX + avastin", "FOLFIRI"]).tolist() == ["TAR+Chemo", "Chemo alone"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw.pop("nodal"), "sdtm_map.yaml, key nodal: is missing"),
        (
            lambda raw: raw["site_map"]["lung"].append("LIVER"),
            "sdtm_map.yaml, key site_map: the location 'LIVER' is listed under both 'liver' and 'lung'",
        ),
        (
            lambda raw: raw.update(nodal=["lymph nodes"]),
            "sdtm_map.yaml, key nodal: names organ categories that site_map does not have: lymph nodes",
        ),
        (
            lambda raw: raw["supp_qualifiers"].update(ECOG="ecog"),
            "sdtm_map.yaml, key supp_qualifiers: unknown patients columns ecog (choose from bmi, kras, line, prior_surgery)",
        ),
        (
            lambda raw: raw.update(diameter_tests={"longest": ["LDIAM"]}),
            "sdtm_map.yaml, key diameter_tests: must map 'longest' and 'short_axis' to lists of TRTESTCD values",
        ),
        (
            lambda raw: raw.update(state_tests=["LDIAM"]),
            "sdtm_map.yaml, key diameter_tests: the TRTESTCD LDIAM is listed twice",
        ),
        (
            lambda raw: raw["arm_map"].update(targeted_words=[]),
            "sdtm_map.yaml, key arm_map.targeted_words: must be a non-empty list of text values",
        ),
    ],
)
def test_a_malformed_map_names_its_key(change, message):
    raw = load_mapping_dict()
    change(raw)
    with pytest.raises(MappingError) as error:
        mapping_from_dict(raw, source="sdtm_map.yaml")
    assert str(error.value) == message


def test_schemas_reject_broken_tables(tmp_path):
    good = read(factory.build_domains(), tmp_path).tables()
    validate_tables(good)

    def broken(name, change):
        tables = {key: table.copy() for key, table in good.items()}
        change(tables[name])
        return tables

    schema_breaks = [
        broken("patients", lambda t: t.__setitem__("line", np.array([1, 3]))),
        broken("patients", lambda t: t.__setitem__("kras", ["wild-type", "KRAS G12D"])),
        broken("measurements", lambda t: t.__setitem__("day", t["day"].astype(float))),
        broken("measurements", lambda t: t.__setitem__("diameter_mm", -t["diameter_mm"])),
        broken("lesions", lambda t: t.__setitem__("lesion_id", t["lesion_id"].iloc[::-1].to_numpy())),
        broken("lesion_status", lambda t: t.__setitem__("status", "GONE")),
        broken("exclusions", lambda t: t.__setitem__("reason", "lost")),
        broken("measurements", lambda t: t.insert(6, "extra", 1)),
    ]
    for tables in schema_breaks:
        with pytest.raises(pandera.errors.SchemaErrors):
            validate_tables(tables)
    duplicated = {key: table.copy() for key, table in good.items()}
    duplicated["measurements"].loc[1, "day"] = -7
    with pytest.raises(pandera.errors.SchemaErrors):
        validate_tables(duplicated)
    link_breaks = [
        broken("measurements", lambda t: t.__setitem__("lesion_id", t["lesion_id"].str.replace("T01", "T00"))),
        broken("lesion_status", lambda t: t.__setitem__("patient_id", "S1-002")),
        broken("patients", lambda t: t.__setitem__("last_day", np.array([-10, -10]))),
    ]
    for tables in link_breaks:
        with pytest.raises(TableLinkError):
            validate_tables(tables)
