"""Names and defaults the whole project shares, in one place: the simulated cohorts, the default seed, the
build folder's layout and the package version that stamps every cache.

This module imports nothing from the package, so the analysis, the book helpers and the command line can all
depend on it without depending on each other.
"""

from __future__ import annotations

from importlib import metadata

#: The cohorts the book can simulate (a spec in ``cohort/specs/``); anything else is a folder of SDTM files.
SIMULATED_COHORTS = ("mcrc", "mhnscc")

#: How each simulated cohort is named in the prose.
COHORT_LABELS = {"mcrc": "simulated mCRC", "mhnscc": "simulated mHNSCC"}

#: The cohort a build runs on when none is named.
DEFAULT_COHORT = "mcrc"

#: The seed of every stochastic step when none is given (the paper's publication date, 2023-04-17).
DEFAULT_SEED = 20230417

#: Where a build writes (executed notebooks, results, artifacts, HTML) unless told otherwise.
DEFAULT_BUILD_DIR = "_build"

#: The teaching profile: at or below this many patients a build scales the slow appendices down.
TEACHING_MAX_PATIENTS = 1000

#: Environment variable the book runner sets in every chapter's kernel: progress bars stay quiet there.
NOTEBOOK_ENV = "LESIONMAP_IN_NOTEBOOK"


def package_version() -> str:
    """The installed version of lesionmap (stamped into every cached pickle, so an upgrade recomputes)."""
    try:
        return metadata.version("lesionmap")
    except metadata.PackageNotFoundError:
        return "0+unknown"


#: Choices of the SDTM reader options (``--unknown-location``, ``--location-conflicts``; chapter parameters).
UNKNOWN_LOCATION_CHOICES = ("error", "other")
LOCATION_CONFLICT_CHOICES = ("first", "error")
