"""Bad input, fuzzed: SDTM folders made from the hand-made cohort by random mutation must end in a correct read or
an ``SDTMError`` that names the file, the rule and (where one is at fault) the column and rows: never a pandas or
NumPy traceback. On a correct read, every TR record is used or counted, and every DM patient is analysed or excluded.

Mutations: a dropped or renamed column (any case), a wrong type or an impossible date in a cell, a huge value, a
duplicated record, an orphan record (unknown patient or lesion), a dropped domain, an empty file (no bytes, or a
header only), a file in another encoding (UTF-16, Latin-1) or of random bytes. The Hypothesis profile keeps the
suite within a minute; its example database (.hypothesis/) is not committed.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sdtm_factory as factory
from lesionmap.io import SDTMError, read_sdtm
from lesionmap.io.files import csv_encoding

settings.register_profile(
    "sdtm-fuzz",
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def with_deaths(domains: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """DM with a death date to the month (S1-001) and a death flag without a date (S1-002)."""
    dm = domains["dm"].copy()
    dm["DTHDTC"] = np.where(dm["USUBJID"] == "S1-001", "2021-02", "")
    dm["DTHFL"] = np.where(dm["USUBJID"].isin(["S1-001", "S1-002"]), "Y", "")
    return {**domains, "dm": dm}


BASES = {
    "study days": factory.build_domains,
    "dates only": lambda: factory.dates_only(factory.build_domains()),
    "SUPPTR locations by TRSEQ": lambda: factory.locations_in_supptr(factory.build_domains(), idvar="TRSEQ"),
    "no SUPPDM, no ADTTE": lambda: with_deaths(
        {name: frame for name, frame in factory.build_domains().items() if name not in ("suppdm", "adtte")}
    ),
}
CELL_VALUES = [
    "",
    "abc",
    "NaN",
    "-1",
    "0",
    "1e400",
    "1e308",
    "-1e308",
    "2020-02-30",
    "2020-13-01",
    "9999-99-99",
    "2020",
    "2020-1",
    "2020-01",
    "2020-01-01T25:61",
    "x" * 300,
    "LIVER",
    "PD",
    "Y",
    "NOT DONE",
    "TARGET",
    "\u00e9\u00e8",
    "12.5",
    "3.0",
    "S9-999",
    "T99",
    " 001 ",
    float("inf"),
    -3.5,
    2.0**60,
]
ENCODINGS = ["utf-16", "latin-1"]


@st.composite
def mutations(draw):
    """A base cohort and a list of (kind, domain, details) mutations."""
    base = draw(st.sampled_from(sorted(BASES)))
    domains = sorted(BASES[base]())
    kinds = st.sampled_from(
        [
            "drop column",
            "rename column",
            "cell",
            "duplicate row",
            "orphan",
            "drop domain",
            "empty file",
            "header only",
            "encoding",
            "random bytes",
            "lower-case columns",
        ]
    )
    steps = draw(
        st.lists(
            st.tuples(
                kinds,
                st.sampled_from(domains),
                st.integers(0, 10_000),
                st.integers(0, 10_000),
                st.sampled_from(CELL_VALUES),
            ),
            min_size=1,
            max_size=3,
        )
    )
    fmt = draw(st.sampled_from(["csv", "csv", "parquet", "xpt"]))
    return base, steps, fmt


def apply(domains: dict[str, pd.DataFrame], steps) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The mutated frames, and the file-level damage to do after writing ({domain: kind})."""
    damage = {}
    for kind, name, i, j, value in steps:
        if name not in domains:
            continue
        frame = domains[name].copy()
        column = frame.columns[i % len(frame.columns)]
        row = j % max(len(frame), 1)
        if kind == "drop column":
            frame = frame.drop(columns=[column])
        elif kind == "rename column":
            frame = frame.rename(columns={column: [column.lower(), column + "X", "Q" + column][j % 3]})
        elif kind == "lower-case columns":
            frame.columns = [c.lower() for c in frame.columns]
        elif kind == "cell" and len(frame):
            frame[column] = frame[column].astype(object)
            frame.loc[row, column] = value
        elif kind == "duplicate row" and len(frame):
            frame = pd.concat([frame, frame.iloc[[row]]], ignore_index=True)
        elif kind == "orphan" and len(frame):
            key = "USUBJID" if "USUBJID" in frame or j % 2 else column
            if key in frame:
                frame[key] = frame[key].astype(object)
                frame.loc[row, key] = "S9-999" if key == "USUBJID" else "T99"
        elif kind == "drop domain":
            del domains[name]
            continue
        elif kind in ("empty file", "header only", "encoding", "random bytes"):
            damage[name] = kind
        domains[name] = frame
    return domains, damage


def write(domains: dict[str, pd.DataFrame], folder: Path, fmt: str, damage: dict[str, str], seed: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in domains.items():
        path = folder / f"{name}.{fmt}"
        typed = frame.copy()
        for column in typed.columns[typed.dtypes == object]:
            typed[column] = typed[column].map(lambda v: "" if v is None or v != v else str(v))
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "parquet":
            typed.to_parquet(path, index=False)
        else:
            try:
                import pyreadstat

                typed.columns = [c[:8] for c in typed.columns]
                typed = typed.loc[:, ~typed.columns.duplicated()]
                for column in typed.columns[typed.dtypes == object]:
                    typed[column] = typed[column].str.slice(0, 200)
                pyreadstat.write_xport(typed, str(path), table_name=name.upper()[:8], file_format_version=5)
            except Exception:  # a frame XPT cannot hold (e.g. a number too large): write it as CSV instead
                path.unlink(missing_ok=True)
                path = folder / f"{name}.csv"
                frame.to_csv(path, index=False)
    rng = np.random.default_rng(seed)
    for name, kind in damage.items():
        path = next(folder.glob(f"{name}.*"), None)
        if path is None:
            continue
        if kind == "empty file":
            path.write_bytes(b"")
        elif kind == "header only":
            if path.suffix == ".csv":
                path.write_text(path.read_text().splitlines()[0] + "\n")
            else:
                path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])
        elif kind == "encoding" and path.suffix == ".csv":
            text = path.read_text(encoding="utf-8").replace("Liver", "F\u00f6ie")
            path.write_bytes(text.encode(ENCODINGS[seed % 2], errors="replace"))
        elif kind == "random bytes":
            path.write_bytes(rng.integers(0, 256, size=int(rng.integers(1, 2000)), dtype=np.uint8).tobytes())


def check_error(error: SDTMError, folder: Path) -> None:
    """The error names a file of the folder (or the folder), and a rule; a column is one of that file's or named."""
    names = {path.name for path in folder.iterdir()} | {folder.name, str(folder)}
    stems = {path.stem for path in folder.iterdir()} | {"dm", "tu", "tr", "rs"}
    assert error.file in names or error.file in stems, str(error)
    assert error.rule and isinstance(error.rule, str), str(error)
    assert all(row >= 1 for row in error.rows), str(error)
    if error.column is not None:
        assert error.column == error.column.upper() and error.column.strip(), str(error)


def records_in(folder: Path, name: str, domains: dict[str, pd.DataFrame]) -> int:
    """Records of a domain as written (a damaged CSV is counted from the file itself)."""
    path = folder / f"{name}.csv"
    if path.exists():
        return len(pd.read_csv(path, dtype=str, encoding=csv_encoding(path)))
    return len(domains[name])


def check_read(data, folder: Path, domains: dict[str, pd.DataFrame]) -> None:
    """A correct read: valid tables, every TR record used or counted, every DM patient analysed or excluded."""
    data.validate()
    tr_rows = records_in(folder, "tr", domains)
    counted = sum(count for reason, count in data.report["set_aside"].items() if reason.startswith("TR "))
    excluded = data.report["excluded_records"]
    used = (
        len(data.measurements) + len(data.lesion_status) + excluded["target measurements"] + excluded["lesion statuses"]
    )
    assert used + counted == tr_rows
    consort = data.report["consort"]
    dm_rows = records_in(folder, "dm", domains)
    assert consort["screened"] == dm_rows == len(data.patients) + len(data.exclusions)


@settings(settings.get_profile("sdtm-fuzz"))
@given(mutations())
def test_mutated_sdtm_reads_correctly_or_fails_with_a_precise_error(case):
    base, steps, fmt = case
    domains, damage = apply(dict(BASES[base]()), steps)
    folder = Path(tempfile.mkdtemp(prefix="sdtm-fuzz-"))
    try:
        write(domains, folder, fmt, damage, seed=sum(step[2] for step in steps))
        try:
            data = read_sdtm(folder, unknown_location="other")
        except SDTMError as error:
            check_error(error, folder)
        else:
            check_read(data, folder, domains)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_unmutated_base_reads():
    """The fuzzer's bases are valid: a failure above is the mutation's doing."""
    for make in BASES.values():
        folder = Path(tempfile.mkdtemp(prefix="sdtm-base-"))
        try:
            write(make(), folder, "csv", {}, seed=0)
            assert len(read_sdtm(folder).patients) == 2
        finally:
            shutil.rmtree(folder, ignore_errors=True)
