"""Helpers the chapters share: the run context (cohort, size, seed, folders), glued numbers, results files.

A chapter starts with ``ctx = book.Context.from_parameters(cohort, n_patients, seed, build_dir)``; every
file it reads or writes lives under ``ctx.artifacts`` (keyed by cohort and parameters, so runs with other
parameters never overwrite each other) or ``ctx.results_dir`` (``<build_dir>/runs/<run key>/results``, keyed
the same way; the runner points ``<build_dir>/results`` at the last run's).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from lesionmap.config import (
    COHORT_LABELS,
    DEFAULT_BUILD_DIR,
    DEFAULT_COHORT,
    DEFAULT_SEED,
    LOCATION_CONFLICT_CHOICES,
    SIMULATED_COHORTS,
    UNKNOWN_LOCATION_CHOICES,
)

#: Environment variable through which the book runner tells each chapter's kernel the key of its run
#: (the cohort key plus a digest of any non-default chapter parameters).
RUN_KEY_ENV = "LESIONMAP_RUN_KEY"

#: Environment variable through which the book runner tells a chapter's kernel which file to create once the
#: stages that later chapters read are cached (``stages_ready``).
STAGES_READY_ENV = "LESIONMAP_STAGES_READY"


@dataclass(frozen=True)
class Context:
    """Where one run of the chapters reads and writes, what it runs on, and how the SDTM reader reads it.

    ``cohort`` is a simulated cohort's name, a folder of SDTM files, or several folders to pool (joined by
    ``os.pathsep``; ``folders`` lists them). ``sdtm_map``, ``evaluator``, ``unknown_location`` and
    ``location_conflicts`` are the reader's options (``lesionmap.io.read_sdtm``); None keeps the map's evaluator.
    """

    cohort: str
    n_patients: int
    seed: int
    build_dir: Path
    sdtm_map: str | None = None
    evaluator: str | None = None
    unknown_location: str = "error"
    location_conflicts: str = "first"

    @classmethod
    def from_parameters(
        cls,
        cohort=DEFAULT_COHORT,
        n_patients: int = 0,
        seed: int = DEFAULT_SEED,
        build_dir: str | Path = DEFAULT_BUILD_DIR,
        sdtm_map: str | None = None,
        evaluator: str | None = None,
        unknown_location: str = "error",
        location_conflicts: str = "first",
    ) -> Context:
        """Check the chapter parameters and make the context; a bad value raises a one-line ValueError.

        ``cohort`` may be a list of SDTM folders (or a folder of trial folders): the trials are pooled.
        """
        folders = [str(item) for item in cohort] if isinstance(cohort, (list, tuple)) else [str(cohort)]
        if not folders or (len(folders) > 1 and any(item in SIMULATED_COHORTS for item in folders)):
            raise ValueError(f"cohort {cohort!r}: pool folders of SDTM files, not simulated cohorts")
        for item in folders:
            if item not in SIMULATED_COHORTS and not Path(item).is_dir():
                raise ValueError(
                    f"cohort '{item}' is neither a simulated cohort ({', '.join(SIMULATED_COHORTS)}) "
                    "nor a folder of SDTM files"
                )
        if int(n_patients) < 0:
            raise ValueError(f"n_patients must be 0 (the spec's size) or more, not {n_patients}")
        if unknown_location not in UNKNOWN_LOCATION_CHOICES:
            raise ValueError(f"unknown_location must be 'error' or 'other', not {unknown_location!r}")
        if location_conflicts not in LOCATION_CONFLICT_CHOICES:
            raise ValueError(f"location_conflicts must be 'first' or 'error', not {location_conflicts!r}")
        if sdtm_map and not Path(sdtm_map).is_file():
            raise ValueError(f"sdtm_map '{sdtm_map}' is not a file (give a copy of data/sdtm_map.yaml)")
        return cls(
            os.pathsep.join(folders),
            int(n_patients),
            int(seed),
            Path(build_dir),
            sdtm_map or None,
            evaluator or None,
            unknown_location,
            location_conflicts,
        )

    @property
    def simulated(self) -> bool:
        """True for the book's simulated cohorts (their truth is known), False for a user's SDTM folder."""
        return self.cohort in SIMULATED_COHORTS

    @property
    def folders(self) -> list[Path]:
        """The SDTM folders of a user's cohort (several when trials are pooled); empty for a simulated cohort."""
        return [] if self.simulated else [Path(item) for item in self.cohort.split(os.pathsep)]

    @property
    def pooled(self) -> bool:
        """Whether several trial folders are pooled (a list of folders, or a folder of trial folders)."""
        from lesionmap.io.sdtm import sdtm_sources

        return len(self.folders) > 1 or (len(self.folders) == 1 and len(sdtm_sources(self.folders[0])) > 1)

    def reader_options(self) -> dict:
        """The keyword arguments of ``read_sdtm`` that this run chose."""
        return {
            "mapping": self.sdtm_map,
            "evaluator": self.evaluator,
            "unknown_location": self.unknown_location,
            "location_conflicts": self.location_conflicts,
        }

    @property
    def cohort_label(self) -> str:
        if self.simulated:
            return COHORT_LABELS[self.cohort]
        names = ", ".join(folder.name for folder in self.folders)
        return f"SDTM data pooled from {names}" if len(self.folders) > 1 else f"SDTM data in {names}"

    @property
    def key(self) -> str:
        """A folder name that identifies the cohort and the parameters."""
        if self.simulated:
            return f"{self.cohort}-n{self.n_patients or 'spec'}-s{self.seed}"
        resolved = os.pathsep.join(str(folder.resolve()) for folder in self.folders)
        digest = hashlib.sha1(resolved.encode()).hexdigest()[:10]
        return f"sdtm-{self.folders[0].name}{'-pooled' if len(self.folders) > 1 else ''}-{digest}-s{self.seed}"

    @property
    def artifacts(self) -> Path:
        path = self.build_dir / "artifacts" / self.key
        path.mkdir(parents=True, exist_ok=True)
        return path

    @property
    def run_key(self) -> str:
        """The key of this run: the runner's (cohort, size, seed and chapter parameters) or, for a chapter
        executed on its own, the cohort key."""
        return os.environ.get(RUN_KEY_ENV) or self.key

    @property
    def results_dir(self) -> Path:
        """Where this run's results files go: ``<build_dir>/runs/<run key>/results``."""
        path = run_folder(self.build_dir, self.run_key) / "results"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def with_cohort(self, cohort: str) -> Context:
        """The same run on another cohort (e.g. the mHNSCC validation cohort, at its spec's size)."""
        return Context(cohort, 0, self.seed, self.build_dir)


def stages_ready() -> None:
    """Tell the book runner that every stage later chapters read from this chapter is cached, so that they may
    start while this chapter goes on (with its exercises, say). Outside a build it does nothing."""
    marker = os.environ.get(STAGES_READY_ENV)
    if marker:
        Path(marker).parent.mkdir(parents=True, exist_ok=True)
        Path(marker).touch()


def run_folder(build_dir: str | Path, run_key: str) -> Path:
    """The folder of one run's results and executed notebooks."""
    return Path(build_dir) / "runs" / run_key


def run_key(cohort: str, n_patients: int, seed: int, parameters: dict | None = None) -> str:
    """A run's key: the cohort key, plus a short digest of the chapter parameters when any is given."""
    key = Context.from_parameters(cohort, n_patients, seed).key
    if parameters:
        digest = hashlib.sha1(json.dumps(parameters, sort_keys=True, default=str).encode()).hexdigest()[:8]
        key = f"{key}-p{digest}"
    return key


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
    """Write a chapter's key numbers to ``<results_dir>/<chapter>.json`` (the numbers its prose quotes)."""
    path = ctx.results_dir / f"{chapter}.json"
    payload = {"cohort": ctx.cohort, "n_patients": ctx.n_patients, "seed": ctx.seed, **_plain(results)}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False), encoding="utf-8")
    return path


#: Text columns whose typical entry is longer than this (characters) get a wider minimum width in the HTML.
LONG_TEXT_CHARS = 16
#: Text columns typically longer than this get a small minimum width (a dozen characters a line).
SHORT_TEXT_CHARS = 10


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
        elif typical > SHORT_TEXT_CHARS:
            # a few words ("1,425 vs 1,228"): enough room for a dozen characters a line beside long columns
            widths[position] = float(min(8.0, max(6.0, 0.5 * typical)))
    return widths


def show_table(frame: pd.DataFrame, caption: str | None = None, digits: int = 3):
    """A DataFrame as a compact HTML table without the index (for the book's tables); long text columns keep a
    readable minimum width (``text_column_widths``)."""
    styler = frame.style.hide(axis="index").format(precision=digits, thousands=",")
    styles = [
        {"selector": f"td.col{position}, th.col_heading.col{position}", "props": f"min-width: {width}rem;"}
        for position, width in text_column_widths(frame).items()
    ]
    if styles:
        styler = styler.set_table_styles(styles, overwrite=False)
    if caption:
        styler = styler.set_caption(caption)
    return styler
