"""The finding ledger: each of the paper's findings beside this cohort's value, generated from the results files.

A chapter writes its numbers with ``book.save_results(ctx, name, {...})``; the ledger reads that file back and
applies the chapter's rules (one module per chapter in this package, registered in ``RULES``), so no verdict is
ever typed. Each ``Finding`` says:

- ``statement``: the paper's finding in words, and ``paper``: the paper's value(s);
- ``value``: this cohort's value, formatted from the results file;
- ``origin``: ``"input"`` when the cohort spec sets that relation directly (``how`` names the spec entry),
  ``"emergent"`` when it follows from mechanisms that do not mention it (``how`` names them), and
  ``"real data"`` for a user's SDTM data, where nothing was put in;
- ``holds``: True or False, or None when the cohort cannot say (a group absent, a test not computable).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from lesionmap.config import SIMULATED_COHORTS

ORIGINS = ("input", "emergent", "real data")


@dataclass(frozen=True)
class Finding:
    """One finding of the paper and what this cohort says about it."""

    key: str
    statement: str
    paper: str
    value: str
    origin: str
    holds: bool | None
    how: str = ""

    def __post_init__(self):
        if self.origin not in ORIGINS:
            raise ValueError(f"origin must be one of {ORIGINS}, got {self.origin!r}")


#: chapter results name -> function(results dict) -> list of findings; filled by the chapter modules.
RULES: dict[str, Callable[[dict], list[Finding]]] = {}


def rule(chapter: str):
    """Register ``function(results) -> list[Finding]`` as the ledger rules of one chapter's results file."""

    def register(function):
        RULES[chapter] = function
        return function

    return register


def origin_for(results: dict, simulated_origin: str) -> str:
    """``simulated_origin`` ('input' or 'emergent') for the book's simulated cohorts, 'real data' otherwise."""
    return simulated_origin if results.get("cohort") in SIMULATED_COHORTS else "real data"


def read_results(results_dir: str | Path, chapter: str) -> dict:
    """A chapter's results file (``<results_dir>/<chapter>.json``)."""
    path = Path(results_dir) / f"{chapter}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results for '{chapter}' (execute its chapter first)")
    return json.loads(path.read_text(encoding="utf-8"))


def findings(results_dir: str | Path, chapter: str) -> list[Finding]:
    """The ledger of one chapter, computed from its results file by its registered rules."""
    _load_rule_modules()
    if chapter not in RULES:
        raise KeyError(f"no ledger rules for '{chapter}'; known: {', '.join(sorted(RULES))}")
    return RULES[chapter](read_results(results_dir, chapter))


def save(results_dir: str | Path, chapter: str, items: Iterable[Finding]) -> Path:
    """Write a ledger to ``<results_dir>/ledger/<chapter>.json`` (the whole-book summary reads these)."""
    folder = Path(results_dir) / "ledger"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{chapter}.json"
    path.write_text(json.dumps([asdict(item) for item in items], indent=2), encoding="utf-8")
    return path


def load_all(results_dir: str | Path) -> pd.DataFrame:
    """Every saved ledger of a build, one row per finding with its chapter."""
    folder = Path(results_dir) / "ledger"
    rows = []
    for path in sorted(folder.glob("*.json")):
        rows += [{"chapter": path.stem, **row} for row in json.loads(path.read_text(encoding="utf-8"))]
    return pd.DataFrame(rows, columns=["chapter", *Finding.__dataclass_fields__])


def verdict(holds: bool | None) -> str:
    return "holds" if holds is True else "does not hold" if holds is False else "cannot tell"


def frame(items: Iterable[Finding]) -> pd.DataFrame:
    """The ledger as the book shows it."""
    return pd.DataFrame(
        [
            {
                "Finding": f.statement,
                "Paper": f.paper,
                "This cohort": f.value,
                "Origin": f.origin,
                "How": f.how,
                "Verdict": verdict(f.holds),
            }
            for f in items
        ],
        columns=["Finding", "Paper", "This cohort", "Origin", "How", "Verdict"],
    )


def summary(items: Iterable[Finding]) -> dict:
    """Counts for the prose: findings, held, not held, undecided, and how many of those held are emergent."""
    items = list(items)
    return {
        "findings": len(items),
        "held": sum(f.holds is True for f in items),
        "not_held": sum(f.holds is False for f in items),
        "undecided": sum(f.holds is None for f in items),
        "held_emergent": sum(f.holds is True and f.origin == "emergent" for f in items),
        "held_input": sum(f.holds is True and f.origin == "input" for f in items),
    }


def _load_rule_modules() -> None:
    """Import the chapter modules of this package so that their ``@rule`` functions register."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
