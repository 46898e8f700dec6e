"""A quick look at the progression groups a simulator spec produces, for mechanism work on Chapter 4.

    .venv/bin/python benchmarks/sequence_mechanisms.py --seeds 20230417 1 2 \\
        [--set involvement.weight.lung=6.0 --set liver_hub.new_lesion_log_hazard_ratio=0.8] [--n-patients 4308]

For each seed: simulate with the spec's values (``--set KEY=VALUE`` overrides a value; KEY is a dotted path
into the spec's numbers, VALUE is read as JSON), write SDTM as XPT and read it back, derive the target lesions' events
from the simulation's *true* parameters of those lesions (no SAEM: about 20 s a seed instead of the 75 s of
``check_findings.py --quick``), cluster the sequences as Chapter 4 does (k = 5, ``onehot_padded``) and print,
per named cluster: patients, mean progressing organs, first-organ class shares, OS median and the median gap
from the 1st to the 2nd progression; then the first-organ shares of the patients progressing in 2-3 organs and
the OS median by first-organ class. Events from true parameters are not the book's (it derives them from the
SAEM fit), so confirm a mechanism with ``check_findings.py`` before keeping it.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
import warnings
from dataclasses import replace

import pandas as pd

from lesionmap import sequence
from lesionmap.cohort import DEFAULT_SEED, load_spec, simulate, write_sdtm
from lesionmap.events import lesion_events
from lesionmap.io import read_sdtm
from lesionmap.stats import km_medians


def with_values(spec, assignments: list[str]):
    """The spec with ``KEY=VALUE`` assignments applied to a copy of its values (an unknown key is an error)."""
    values = copy.deepcopy(spec.values)
    for assignment in assignments:
        key, _, text = assignment.partition("=")
        if not text:
            raise SystemExit(f"--set {assignment!r}: expected KEY=VALUE")
        *parents, leaf = key.split(".")
        node = values
        for part in parents:
            if not isinstance(node, dict) or part not in node:
                raise SystemExit(f"--set {key}: {part!r} is not in the spec")
            node = node[part]
        if leaf not in node:
            raise SystemExit(f"--set {key}: {leaf!r} is not in the spec")
        node[leaf] = json.loads(text)
    return replace(spec, values=values)


def first_class(first_organs: str) -> str:
    """The first-organ class of a patient's first rank ("none", "multi" for ties across classes)."""
    if not first_organs:
        return "none"
    return "multi" if "+" in first_organs else sequence.first_organ_class(first_organs)


def summarise_seed(spec, seed: int, n_patients: int | None) -> str:
    started = time.perf_counter()
    cohort = simulate(spec, n_patients=n_patients, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        write_sdtm(cohort, folder, fmt="xpt")
        data = read_sdtm(folder)
    targets = data.lesions.loc[data.lesions["kind"] == "target", "lesion_id"]
    truth = cohort.truth.lesions.set_index("lesion_id").loc[targets, ["V0", "Kd", "F", "Kg"]]
    events = lesion_events(truth, data.lesions, data.lesion_status, data.patients)
    sequences = sequence.progression_sequences(events, data.patients, random_state=seed)
    labels = (
        sequence.SequenceClustering(n_clusters=5, encoding="onehot_padded", random_state=seed).fit(sequences).labels_
    )
    composition = sequence.cluster_composition(sequences, labels[labels != sequence.NO_PROGRESSION])
    patients = data.patients.assign(group=data.patients["patient_id"].map(labels))
    composition["os"] = km_medians(patients, group="group").set_index("group")["median"]
    intervals = sequence.interval_table(sequences, labels)
    composition["gap2"] = intervals[intervals["interval"] == "2nd-1st"].groupby("group")["days"].median()
    lines = [f"seed {seed} ({time.perf_counter() - started:.0f} s)"]
    for name, row in composition.sort_index().iterrows():
        lines.append(
            f"  {name:<16} n {row.n:>5}  organs {row.mean_organs:.1f}  first liver/lung/other "
            f"{row.first_liver:.2f}/{row.first_lung:.2f}/{row.first_other:.2f}  OS {row.os:>5.0f}  "
            f"gap 1st-2nd {row.gap2:>4.0f}"
        )
    table = sequences.patients.set_index("patient_id")
    classes = table["first_organs"].map(first_class)
    middle = classes[table["n_organs"].between(2, 3)].value_counts(normalize=True).round(2)
    by_class = km_medians(data.patients.assign(first=data.patients["patient_id"].map(classes)), group="first")
    lines.append(f"  first-organ class of patients progressing in 2-3 organs: {middle.to_dict()}")
    rule = sequence.rule_partition(sequences).value_counts()
    lines.append(f"  groups by the paper's rule: {rule.to_dict()} (paper: {sequence.PAPER_GROUP_SIZES})")
    lines.append(f"  OS median by first-organ class: {by_class.set_index('group')['median'].to_dict()}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[DEFAULT_SEED])
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--n-patients", type=int, default=0, help="0: the spec's size (4,308)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    pd.set_option("display.width", 200)
    spec = with_values(load_spec("mcrc"), args.assignments)
    for seed in args.seeds:
        print(summarise_seed(spec, seed, args.n_patients or None), flush=True)


if __name__ == "__main__":
    main()
