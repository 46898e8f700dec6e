"""Cohort specs: every calibration number of a simulated cohort, each with its source.

A spec is a YAML file in ``data/cohorts/``. A calibration number is written ``{value: ..., source: "..."}``;
the source is the paper's figure or sentence, or starts with ``assumed:`` and says in one line why the value
was chosen. A value may be a mapping (organ -> number, category -> share): one source then covers the family.
Names and labels (study ids, arm texts, registry numbers) are plain strings.

``load_spec`` reads a spec, checks it against the SDTM site map and returns the numbers without their sources
(``spec.values``); ``calibration_table`` lists every number with its source, published or assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[3]
COHORT_DIR = REPO_ROOT / "data" / "cohorts"
SITE_MAP_FILE = REPO_ROOT / "data" / "sdtm_map.yaml"

#: Organ-level parameter families every spec defines (mapping organ -> value).
ORGAN_PARAMETERS = (
    "Kd",
    "F",
    "Kg",
    "extra_lesions",
    "v0_median_mm3",
    "tar_acts",
    "new_lesion_rate",
    "death_log_hazard",
)


def tar_spared_organs(values: dict) -> list[str]:
    """The organs TAR does not reach in a spec's values (``organs.tar_acts`` false), sorted."""
    return sorted(organ for organ, reaches in values["organs"]["tar_acts"].items() if not reaches)


class SpecError(ValueError):
    """A cohort spec that cannot be simulated; the message names the file and the entry."""


@dataclass(frozen=True)
class CohortSpec:
    """A loaded cohort spec: ``values`` holds the numbers, ``raw`` the file as written (with sources)."""

    name: str
    path: Path
    raw: dict
    values: dict = field(repr=False)
    site_map: dict = field(repr=False)

    @property
    def organs(self) -> list[str]:
        """Organ categories of the cohort, in the spec's order."""
        return list(self.values["organs"]["Kd"])

    @property
    def n_patients(self) -> int:
        """Patients kept after the exclusion rules (the paper's cohort size by default)."""
        return int(self.values["cohort"]["n_patients"])

    def calibration_table(self) -> pd.DataFrame:
        """Every number of the spec with its source (see ``calibration_table``)."""
        return calibration_table(self)


def _is_parameter(node) -> bool:
    return isinstance(node, dict) and set(node) == {"value", "source"}


def _unwrap(node, where: str, path: Path):
    """The spec without sources; raises SpecError on a number that has none."""
    if _is_parameter(node):
        source = node["source"]
        if not isinstance(source, str) or not source.strip():
            raise SpecError(f"{path}: '{where}' has an empty source")
        return node["value"]
    if isinstance(node, dict):
        if "value" in node or "source" in node:
            raise SpecError(f"{path}: '{where}' must hold exactly the keys 'value' and 'source'")
        return {key: _unwrap(item, f"{where}.{key}" if where else str(key), path) for key, item in node.items()}
    if isinstance(node, list):
        return [_unwrap(item, f"{where}[{i}]", path) for i, item in enumerate(node)]
    if isinstance(node, bool) or isinstance(node, (int, float)):
        raise SpecError(f"{path}: the number at '{where}' has no source; write it as {{value: ..., source: ...}}")
    return node


def _parameter_rows(node, where: str):
    """(parameter, item, value, source) for every calibration number below ``node``."""
    if _is_parameter(node):
        value, source = node["value"], node["source"]
        if isinstance(value, dict):
            for item, number in value.items():
                yield where, str(item), number, source
        else:
            yield where, "", value, source
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _parameter_rows(item, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            label = (item.get("study_id") or item.get("arm")) if isinstance(item, dict) else None
            yield from _parameter_rows(item, f"{where}[{label if label is not None else i}]")


def load_site_map(path: str | Path = SITE_MAP_FILE) -> dict:
    """The SDTM site map (``data/sdtm_map.yaml``): organ category -> TULOC values, nodal organs, arm map."""
    with open(path) as handle:
        return yaml.safe_load(handle)


def _check(spec_path: Path, values: dict, site_map: dict) -> None:
    organs_block = values.get("organs", {})
    missing = [name for name in ORGAN_PARAMETERS if name not in organs_block]
    if missing:
        raise SpecError(f"{spec_path}: organs is missing {', '.join(missing)}")
    organs = list(organs_block["Kd"])
    unknown = [organ for organ in organs if organ not in site_map["site_map"]]
    if unknown:
        raise SpecError(f"{spec_path}: organs not in the site map {SITE_MAP_FILE.name}: {', '.join(unknown)}")
    for name in ORGAN_PARAMETERS:
        if list(organs_block[name]) != organs:
            raise SpecError(f"{spec_path}: organs.{name} must list the organs of organs.Kd, in that order")
    weights = values.get("involvement", {}).get("weight", {})
    if list(weights) != organs:
        raise SpecError(f"{spec_path}: involvement.weight must list the organs of organs.Kd, in that order")
    trials = values.get("trials", [])
    if not trials:
        raise SpecError(f"{spec_path}: no trials")
    share = sum(trial["share"] for trial in trials)
    if abs(share - 1) > 1e-9:
        raise SpecError(f"{spec_path}: trial shares sum to {share}, not 1")
    for trial in trials:
        arm_share = sum(arm["share"] for arm in trial["arms"])
        if abs(arm_share - 1) > 1e-9:
            raise SpecError(f"{spec_path}: arm shares of {trial['study_id']} sum to {arm_share}, not 1")
    for block in ("race", "kras"):
        total = sum(values["demographics"][block].values())
        if abs(total - 1) > 1e-9:
            raise SpecError(f"{spec_path}: demographics.{block} shares sum to {total}, not 1")


def load_spec(name_or_path: str | Path) -> CohortSpec:
    """Load a cohort spec by name (``"mcrc"``, ``"mhnscc"``: ``data/cohorts/NAME.yaml``) or by path."""
    candidate = Path(name_or_path)
    path = candidate if candidate.suffix in (".yaml", ".yml") else COHORT_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in COHORT_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no cohort spec '{name_or_path}' (known: {', '.join(known)}; or give a .yaml path)")
    with open(path) as handle:
        raw = yaml.safe_load(handle)
    values = _unwrap(raw, "", path)
    site_map = load_site_map()
    _check(path, values, site_map)
    return CohortSpec(name=str(values.get("name", path.stem)), path=path, raw=raw, values=values, site_map=site_map)


def calibration_table(spec: CohortSpec) -> pd.DataFrame:
    """One row per calibration number: parameter, item (organ or category), value, source, status.

    ``status`` is ``assumed`` when the source starts with 'assumed', else ``published``.
    """
    rows = list(_parameter_rows(spec.raw, ""))
    table = pd.DataFrame(rows, columns=["parameter", "item", "value", "source"])
    table["value"] = table["value"].map(lambda v: v if isinstance(v, str) else repr(v))
    table["status"] = ["assumed" if s.strip().lower().startswith("assumed") else "published" for s in table["source"]]
    return table
