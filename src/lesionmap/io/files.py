"""Finding and reading SDTM domain files (XPT, SAS7BDAT, CSV, Parquet) into checked, row-numbered frames.

Each domain is read once, only the columns the reader uses, with every text value as ``str`` (CSV cells are
read as text so that identifiers such as ``001`` keep their zeros) and 1-based row numbers kept for errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap.io.errors import SDTMError

#: Supported file formats by suffix. pyreadstat reads SAS datasets but cannot write them.
FORMATS = {".xpt": "SAS transport (XPT)", ".sas7bdat": "SAS dataset", ".csv": "CSV", ".parquet": "Parquet"}
REQUIRED_DOMAINS = ("dm", "tu", "tr", "rs")
#: SUPPDM (covariates), ADTTE (ADaM survival; OS and PFS are derived without it), SUPPTR (locations), and DS and
#: SV (only their dates: the last date a patient was known alive).
OPTIONAL_DOMAINS = ("suppdm", "adtte", "supptr", "ds", "sv")

#: Name of the column holding each record's 1-based row number in its file.
ROW = "_row"


def is_domain_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a DM file (a trial's SDTM package, not a folder of trial folders)."""
    return any(path.stem.lower() == "dm" and path.is_file() for path in folder.iterdir())


def find_domain_files(folder: str | Path) -> dict[str, Path]:
    """The file of each domain in ``folder`` (names matched case-insensitively); errors name what is wrong."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SDTMError(str(folder), None, None, "no such folder of SDTM files")
    supported: dict[str, list[Path]] = {}
    unsupported: dict[str, list[Path]] = {}
    for path in sorted(folder.iterdir()):
        name, suffix = path.stem.lower(), path.suffix.lower()
        if not path.is_file() or name not in REQUIRED_DOMAINS + OPTIONAL_DOMAINS:
            continue
        (supported if suffix in FORMATS else unsupported).setdefault(name, []).append(path)
    expected = ", ".join(FORMATS)
    for name, paths in unsupported.items():
        if name not in supported:
            raise SDTMError(
                paths[0].name, None, None, f"unknown file format '{paths[0].suffix}' (the reader reads {expected})"
            )
    for name, paths in supported.items():
        if len(paths) > 1:
            raise SDTMError(
                paths[0].name,
                None,
                None,
                f"domain {name.upper()} is given twice ({', '.join(p.name for p in paths)}): keep one file",
            )
    missing = [name for name in REQUIRED_DOMAINS if name not in supported]
    if missing:
        name = missing[0]
        raise SDTMError(
            name,
            None,
            None,
            f"missing domain file: expected {name}.xpt, {name}.sas7bdat, {name}.csv or {name}.parquet in {folder}",
        )
    return {name: paths[0] for name, paths in supported.items()}


def csv_encoding(path: Path) -> str:
    """The text encoding of a CSV file: UTF-16 or UTF-8 by their byte-order marks, UTF-8 when it decodes, else
    Latin-1 (which decodes any bytes; SAS exports often use it)."""
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    if raw.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _column_names(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix in (".xpt", ".sas7bdat"):
        import pyreadstat

        reader = pyreadstat.read_xport if suffix == ".xpt" else pyreadstat.read_sas7bdat
        return list(reader(str(path), metadataonly=True)[1].column_names)
    if suffix == ".csv":
        return list(pd.read_csv(path, nrows=0, encoding=csv_encoding(path)).columns)
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _read_columns(path: Path, columns: list[str]) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in (".xpt", ".sas7bdat"):
        import pyreadstat

        reader = pyreadstat.read_xport if suffix == ".xpt" else pyreadstat.read_sas7bdat
        return reader(str(path), usecols=columns)[0]
    if suffix == ".csv":
        return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, encoding=csv_encoding(path))
    return pd.read_parquet(path, columns=columns)


def per_distinct(values: pd.Series, transform) -> pd.Series:
    """``transform`` (a function of a text Series) applied once per distinct value, then spread back.

    SDTM text repeats (identifiers, codes, dates), so this is many times faster than a per-row string map.
    """
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    transformed = np.asarray(transform(pd.Series(distinct, dtype=object)), dtype=object)
    return pd.Series(transformed[codes], index=values.index, dtype=object)


def _as_text(values: pd.Series) -> pd.Series:
    """Text of a column read from any format: missing -> '', whole numbers without '.0', spaces trimmed."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=float)
        whole = np.isfinite(numbers) & (numbers == np.round(numbers)) & (np.abs(numbers) < 2**53)
        text = np.where(whole, np.char.mod("%d", np.where(whole, numbers, 0).astype(np.int64)), numbers.astype(str))
        return pd.Series(np.where(np.isnan(numbers), "", text), index=values.index, dtype=object)
    text = values.astype(object).where(values.notna(), "")
    return per_distinct(text, lambda distinct: distinct.astype(str).str.strip())


@dataclass
class Domain:
    """One SDTM domain: its frame (upper-case column names, a ``_row`` column) and its file name for errors."""

    name: str
    file: str
    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def has(self, column: str) -> bool:
        return column in self.frame.columns

    def require(self, *columns: str) -> None:
        """Raise ``SDTMError`` naming the first required column the file lacks."""
        for column in columns:
            if not self.has(column):
                raise SDTMError(
                    self.file, column, None, f"missing required column {column} in domain {self.name.upper()}"
                )

    def subset(self, keep) -> Domain:
        return Domain(self.name, self.file, self.frame[np.asarray(keep, dtype=bool)])

    def rows(self, where=None) -> np.ndarray:
        """1-based row numbers in the file of the records marked by ``where`` (all when None)."""
        rows = self.frame[ROW].to_numpy()
        return rows if where is None else rows[np.asarray(where, dtype=bool)]

    def check(self, bad, column: str | None, rule: str, values=None, show_values: bool = True) -> None:
        """Raise ``SDTMError`` when any record is marked ``bad``, listing the bad records' ``values``.

        ``values`` defaults to the column's own values; ``show_values=False`` lists none (e.g. for a blank).
        """
        bad = np.asarray(bad, dtype=bool)
        if not bad.any():
            return
        got = []
        if show_values:
            if values is None and column is not None and self.has(column):
                values = self.frame[column]
            got = list(np.asarray(values, dtype=object)[bad]) if values is not None else []
        raise SDTMError(self.file, column, self.rows(bad), rule, got)

    def text(self, column: str) -> pd.Series:
        """The column as trimmed text ('' where missing or when the file lacks the column)."""
        if not self.has(column):
            return pd.Series("", index=self.frame.index, dtype=object)
        values = self.frame[column]
        return values if values.dtype == object else _as_text(values)

    def upper(self, column: str) -> pd.Series:
        """The column's text in upper case, for case-insensitive comparisons."""
        return per_distinct(self.text(column), lambda distinct: distinct.str.upper())

    def numbers(self, column: str, rule: str) -> np.ndarray:
        """The column as float64 (NaN where blank); text that is not a number fails with ``rule``."""
        values = self.frame[column] if self.has(column) else pd.Series(np.nan, index=self.frame.index)
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            return values.to_numpy(dtype=float)
        text = _as_text(values).to_numpy(dtype=object)
        blank = text == ""
        try:
            return np.where(blank, "nan", text).astype(float)
        except ValueError:
            parsed = pd.to_numeric(pd.Series(text), errors="coerce").to_numpy(dtype=float)
            self.check(np.isnan(parsed) & ~blank, column, rule)
            return parsed


def read_domain(name: str, path: Path, columns) -> Domain:
    """Read the listed ``columns`` of a domain file (those it has); text columns become trimmed ``str``."""
    try:
        available = _column_names(path)
    except Exception as error:
        raise SDTMError(path.name, None, None, f"cannot be read as {FORMATS[path.suffix.lower()]}: {error}") from error
    upper = [column.strip().upper() for column in available]
    duplicated = sorted({column for column in upper if upper.count(column) > 1})
    if duplicated:
        raise SDTMError(path.name, duplicated[0], None, "the column is given twice (column names are case-insensitive)")
    wanted = set(columns)
    chosen = [original for original, name_upper in zip(available, upper) if name_upper in wanted]
    try:
        frame = _read_columns(path, chosen or available[:1])
    except Exception as error:
        raise SDTMError(path.name, None, None, f"cannot be read as {FORMATS[path.suffix.lower()]}: {error}") from error
    frame = frame[chosen].rename(columns={original: original.strip().upper() for original in chosen})
    frame = frame.reset_index(drop=True)
    for column in frame.columns:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            frame[column] = _as_text(frame[column])
    frame[ROW] = np.arange(1, len(frame) + 1)
    return Domain(name, path.name, frame)
