"""The map from SDTM values to the analysis tables (``data/sdtm_map.yaml``): sites, nodes, arms, qualifiers.

The map is data, not code, so a user with another trial extends it (a new TULOC term, another targeted
drug, another evaluator) without touching the reader. ``load_mapping`` checks it before any file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from lesionmap import tables as contract
from lesionmap.io.errors import MappingError

DEFAULT_MAP_FILE = Path(__file__).resolve().parents[3] / "data" / "sdtm_map.yaml"

#: ``patients`` columns a SUPPDM qualifier may fill (missing values where SUPPDM has no record, or no SUPPDM).
QUALIFIER_COLUMNS = ("bmi", "kras", "line", "prior_surgery")

#: TRTESTCD values of the two diameters when the map does not list its own (``diameter_tests``).
DEFAULT_DIAMETER_TESTS = {"longest": ("LDIAM", "DIAMETER", "LONGDIAM"), "short_axis": ("LPERP", "SHORTAX", "SAXIS")}
#: TRTESTCD values of a non-target or new lesion's status when the map does not list its own (``state_tests``).
DEFAULT_STATE_TESTS = ("TUMSTATE",)

#: Evaluator choices that are not a TREVAL value: the accepted records (``TRACPTFL = "Y"``), or every record.
ACCEPTED, ALL_EVALUATORS = "accepted", "all"

#: The organ category of locations the map does not know, when the user asks to keep them.
OTHER_ORGAN = "other"


def normalise_terms(values) -> pd.Series:
    """Text compared case-insensitively after trimming spaces (TULOC, ARM, ...)."""
    values = pd.Series(values, dtype=object).fillna("")
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    normalised = pd.Series(distinct, dtype=object).astype(str).str.strip().str.upper().to_numpy(dtype=object)
    return pd.Series(normalised[codes], index=values.index, dtype=object)


@dataclass(frozen=True)
class Mapping:
    """A checked site map: organ terms, nodal organs, targeted-drug words, SUPPDM qualifiers, evaluator."""

    site_map: dict[str, tuple[str, ...]]
    nodal: tuple[str, ...]
    targeted_words: tuple[str, ...]
    supp_qualifiers: dict[str, str]
    evaluator: str
    evaluator_id: str | None = None
    reference_organ: str | None = None
    source: str = "sdtm_map.yaml"
    diameter_tests: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_DIAMETER_TESTS))
    state_tests: tuple[str, ...] = DEFAULT_STATE_TESTS
    _organ_of_term: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        organ_of_term = {}
        for organ, terms in self.site_map.items():
            for term in terms:
                key = term.strip().upper()
                if key in organ_of_term and organ_of_term[key] != organ:
                    listed = f"'{organ_of_term[key]}' and '{organ}'"
                    raise MappingError(self.source, "site_map", f"the location '{term}' is listed under both {listed}")
                organ_of_term[key] = organ
        object.__setattr__(self, "_organ_of_term", organ_of_term)
        tests = [code.strip().upper() for codes in self.diameter_tests.values() for code in codes]
        tests += [code.strip().upper() for code in self.state_tests]
        twice = sorted({code for code in tests if tests.count(code) > 1})
        if twice:
            raise MappingError(self.source, "diameter_tests", f"the TRTESTCD {twice[0]} is listed twice")

    def test_kinds(self, codes: pd.Series) -> pd.Series:
        """What each TRTESTCD (upper case) measures: 'longest', 'short_axis', 'state', or missing (not used)."""
        kinds = {code.strip().upper(): kind for kind, listed in self.diameter_tests.items() for code in listed}
        kinds.update({code.strip().upper(): "state" for code in self.state_tests})
        return codes.map(kinds)

    @property
    def evaluator_mode(self) -> str:
        """'accepted', 'all', or 'named' (keep the records whose TREVAL/RSEVAL is ``evaluator``)."""
        lowered = self.evaluator.strip().lower()
        return lowered if lowered in (ACCEPTED, ALL_EVALUATORS) else "named"

    def organs(self, locations) -> pd.Series:
        """The organ category of each location (missing where the map does not know the location)."""
        return normalise_terms(locations).map(self._organ_of_term)

    def is_nodal(self, organs) -> np.ndarray:
        """Whether each organ category is a lymph-node category (measured by its short axis)."""
        return pd.Series(organs, dtype=object).isin(self.nodal).to_numpy()

    def treatment_groups(self, arms) -> np.ndarray:
        """'TAR+Chemo' for arms that name a targeted drug (case-insensitive), else 'Chemo alone'."""
        pattern = "|".join(re.escape(word.strip().upper()) for word in self.targeted_words)
        targeted = normalise_terms(arms).str.contains(pattern, regex=True).to_numpy()
        return np.where(targeted, contract.TREATMENT_GROUPS[0], contract.TREATMENT_GROUPS[1]).astype(object)

    def with_evaluator(self, evaluator: str | None, evaluator_id: str | None) -> Mapping:
        """The same map with another evaluator choice (``None`` keeps the map's own)."""
        if evaluator is None and evaluator_id is None:
            return self
        return Mapping(
            self.site_map,
            self.nodal,
            self.targeted_words,
            self.supp_qualifiers,
            evaluator if evaluator is not None else self.evaluator,
            evaluator_id if evaluator_id is not None else self.evaluator_id,
            self.reference_organ,
            self.source,
            self.diameter_tests,
            self.state_tests,
        )


def _string_list(raw, source: str, key: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw or not all(isinstance(item, str) and item.strip() for item in raw):
        raise MappingError(source, key, "must be a non-empty list of text values")
    return tuple(raw)


def mapping_from_dict(raw: dict, source: str = "sdtm_map.yaml") -> Mapping:
    """A checked ``Mapping`` from the parsed YAML; raises ``MappingError`` naming the bad key."""
    if not isinstance(raw, dict):
        raise MappingError(source, "(top level)", "must be a mapping of keys to values")
    for key in ("site_map", "nodal", "arm_map", "evaluator"):
        if key not in raw:
            raise MappingError(source, key, "is missing")
    if not isinstance(raw["site_map"], dict) or not raw["site_map"]:
        raise MappingError(source, "site_map", "must map organ categories to lists of TULOC values")
    site_map = {
        str(organ): _string_list(terms, source, f"site_map.{organ}") for organ, terms in raw["site_map"].items()
    }
    nodal = _string_list(raw["nodal"], source, "nodal")
    unknown = [organ for organ in nodal if organ not in site_map]
    if unknown:
        raise MappingError(source, "nodal", f"names organ categories that site_map does not have: {', '.join(unknown)}")
    if not isinstance(raw["arm_map"], dict) or "targeted_words" not in raw["arm_map"]:
        raise MappingError(source, "arm_map.targeted_words", "is missing")
    words = _string_list(raw["arm_map"]["targeted_words"], source, "arm_map.targeted_words")
    qualifiers = raw.get("supp_qualifiers") or {}
    if not isinstance(qualifiers, dict):
        raise MappingError(source, "supp_qualifiers", "must map SUPPDM QNAM values to patients columns")
    qualifiers = {str(qnam).strip().upper(): str(column) for qnam, column in qualifiers.items()}
    bad = sorted(set(qualifiers.values()) - set(QUALIFIER_COLUMNS))
    if bad:
        raise MappingError(
            source,
            "supp_qualifiers",
            f"unknown patients columns {', '.join(bad)} (choose from {', '.join(QUALIFIER_COLUMNS)})",
        )
    if len(set(qualifiers.values())) < len(qualifiers):
        raise MappingError(source, "supp_qualifiers", "two QNAM values fill the same patients column")
    evaluator = raw["evaluator"]
    if not isinstance(evaluator, str) or not evaluator.strip():
        raise MappingError(source, "evaluator", "must be a TREVAL value, 'accepted' or 'all'")
    evaluator_id = raw.get("evaluator_id")
    if evaluator_id is not None and (not isinstance(evaluator_id, str) or not evaluator_id.strip()):
        raise MappingError(source, "evaluator_id", "must be a TREVALID value")
    reference = raw.get("reference_organ")
    if reference is not None and reference not in site_map:
        raise MappingError(source, "reference_organ", f"'{reference}' is not an organ category of site_map")
    diameter_tests = raw.get("diameter_tests", DEFAULT_DIAMETER_TESTS)
    if not isinstance(diameter_tests, dict) or set(diameter_tests) != set(DEFAULT_DIAMETER_TESTS):
        raise MappingError(source, "diameter_tests", "must map 'longest' and 'short_axis' to lists of TRTESTCD values")
    diameter_tests = {
        kind: _string_list(list(codes) if isinstance(codes, tuple) else codes, source, f"diameter_tests.{kind}")
        for kind, codes in diameter_tests.items()
    }
    state_tests = raw.get("state_tests", list(DEFAULT_STATE_TESTS))
    state_tests = _string_list(
        list(state_tests) if isinstance(state_tests, tuple) else state_tests, source, "state_tests"
    )
    return Mapping(
        site_map, nodal, words, qualifiers, evaluator, evaluator_id, reference, source, diameter_tests, state_tests
    )


def load_mapping(path: str | Path | None = None) -> Mapping:
    """The checked site map from ``path`` (default: the book's ``data/sdtm_map.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_MAP_FILE
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as error:
        raise MappingError(path.name, "(file)", f"cannot be read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise MappingError(path.name, "(file)", f"is not valid YAML: {error}") from error
    return mapping_from_dict(raw, source=path.name)
