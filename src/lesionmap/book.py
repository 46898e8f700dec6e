"""Helpers the chapters share: the run context (cohort, size, seed, folders), glued numbers, results files.

A chapter starts with ``ctx = book.Context.from_parameters(cohort, n_patients, seed, build_dir)``; every
file it reads or writes lives under ``ctx.artifacts`` (keyed by cohort and parameters, so runs with other
parameters never overwrite each other) or ``ctx.results_dir``.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap.cli import SIMULATED_COHORTS

DEFAULT_SEED = 20230417


@dataclass(frozen=True)
class Context:
    """Where one run of the chapters reads and writes, and what it runs on."""

    cohort: str
    n_patients: int
    seed: int
    build_dir: Path

    @classmethod
    def from_parameters(cls, cohort: str = "mcrc", n_patients: int = 0, seed: int = DEFAULT_SEED,
                        build_dir: str | Path = "_build") -> "Context":
        """Check the chapter parameters and make the context; a bad value raises a one-line ValueError."""
        if cohort not in SIMULATED_COHORTS and not Path(cohort).is_dir():
            raise ValueError(
                f"cohort '{cohort}' is neither a simulated cohort ({', '.join(SIMULATED_COHORTS)}) "
                "nor a folder of SDTM files"
            )
        if int(n_patients) < 0:
            raise ValueError(f"n_patients must be 0 (the spec's size) or more, not {n_patients}")
        return cls(str(cohort), int(n_patients), int(seed), Path(build_dir))

    @property
    def simulated(self) -> bool:
        """True for the book's simulated cohorts (their truth is known), False for a user's SDTM folder."""
        return self.cohort in SIMULATED_COHORTS

    @property
    def cohort_label(self) -> str:
        if self.simulated:
            return {"mcrc": "simulated mCRC", "mhnscc": "simulated mHNSCC"}[self.cohort]
        return f"SDTM data in {Path(self.cohort).name}"

    @property
    def key(self) -> str:
        """A folder name that identifies the cohort and the parameters."""
        if self.simulated:
            return f"{self.cohort}-n{self.n_patients or 'spec'}-s{self.seed}"
        digest = hashlib.sha1(str(Path(self.cohort).resolve()).encode()).hexdigest()[:10]
        return f"sdtm-{Path(self.cohort).name}-{digest}-s{self.seed}"

    @property
    def artifacts(self) -> Path:
        path = self.build_dir / "artifacts" / self.key
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def results_dir(self) -> Path:
        path = self.build_dir / "results"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def with_cohort(self, cohort: str) -> "Context":
        """The same run on another cohort (e.g. the mHNSCC validation cohort, at its spec's size)."""
        return Context(cohort, 0, self.seed, self.build_dir)


def format_number(value, digits: int | None = None) -> str:
    """Integers with thousands separators; floats to ``digits`` decimals (3 significant digits by default)."""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    if digits is None:
        magnitude = abs(value)
        digits = 0 if magnitude >= 100 else 1 if magnitude >= 10 else 2 if magnitude >= 1 else 3
    return f"{value:,.{digits}f}"


def format_p(p: float) -> str:
    """A p-value as the paper writes it: '< 0.0001' below 1e-4, else 2 significant digits."""
    if not math.isfinite(p):
        return "n/a"
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def glue(name: str, value, digits: int | None = None, text: str | None = None) -> str:
    """Glue a number (formatted) or text under ``name`` for the prose; return the text glued."""
    from myst_nb import glue as myst_glue

    shown = text if text is not None else (value if isinstance(value, str) else format_number(value, digits))
    myst_glue(name, shown, display=False)  # myst-nb strips the quotes of a string's repr
    return shown


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return _plain(value.to_dict(orient="records"))
    if isinstance(value, pd.Series):
        return _plain(value.to_dict())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def save_results(ctx: Context, chapter: str, results: dict) -> Path:
    """Write a chapter's key numbers to ``<build_dir>/results/<chapter>.json`` (the numbers its prose quotes)."""
    path = ctx.results_dir / f"{chapter}.json"
    payload = {"cohort": ctx.cohort, "n_patients": ctx.n_patients, "seed": ctx.seed, **_plain(results)}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False), encoding="utf-8")
    return path


#: Text columns whose typical entry is longer than this (characters) get a wider minimum width in the HTML.
LONG_TEXT_CHARS = 16


def text_column_widths(frame: pd.DataFrame) -> dict[int, float]:
    """Minimum widths (rem) of the columns that hold long text, by position: a sentence-long column is not
    squeezed to a few characters per line when the table is wider than the page."""
    widths = {}
    for position, column in enumerate(frame.columns):
        values = frame[column]
        if values.dtype != object or not len(values):
            continue
        typical = values.dropna().astype(str).str.len().quantile(0.75) if values.notna().any() else 0
        if typical > LONG_TEXT_CHARS:
            widths[position] = float(min(20.0, max(8.0, 0.5 * typical)))
    return widths


def show_table(frame: pd.DataFrame, caption: str | None = None, digits: int = 3):
    """A DataFrame as a compact HTML table without the index (for the book's tables); long text columns keep a
    readable minimum width (``text_column_widths``)."""
    styler = frame.style.hide(axis="index").format(precision=digits, thousands=",")
    styles = [{"selector": f"td.col{position}, th.col_heading.col{position}", "props": f"min-width: {width}rem;"}
              for position, width in text_column_widths(frame).items()]
    if styles:
        styler = styler.set_table_styles(styles, overwrite=False)
    if caption:
        styler = styler.set_caption(caption)
    return styler
