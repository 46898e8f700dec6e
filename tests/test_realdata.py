"""Laleh et al. 2022: text values are parsed deliberately and every set-aside value is counted."""

import pandas as pd
import pytest

from lesionmap.realdata import DATA_FILE, SLD_LOQ_MM, load_laleh2022


def test_real_data_loaded_with_every_value_accounted_for():
    table, report = load_laleh2022()
    assert report["patients analysed"] == 1472
    set_aside = sum(v for k, v in report.items() if "set aside" in k)
    assert report["visits analysed"] + set_aside == report["rows in the file"]
    assert (
        table["blq"].sum()
        == report["TOO SMALL TO MEASURE (below LOQ)"] + report["recorded 0 or under 5 mm (below LOQ)"]
    )
    assert (table.loc[table["blq"], "sld_mm"] == SLD_LOQ_MM).all()
    assert (table.groupby("patient_id")["time"].min() == 0).all()
    assert set(table["study"]) == {"FIR", "POPLAR", "BIRCH", "OAK", "IMvigor210"}


def test_unknown_text_value_is_an_error_naming_file_column_and_row(tmp_path):
    raw = pd.read_csv(DATA_FILE, dtype=str).head(5)
    raw.loc[3, "TargetLesionLongDiam_mm"] = "PARTIALLY GONE"
    path = tmp_path / "bad.csv"
    raw.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"bad.csv, column TargetLesionLongDiam_mm, rows 5: unknown text value"):
        load_laleh2022(path)
