"""Mechanism 1: the patients and their baseline organ involvement (spec sections ``trials``,
``demographics``, ``disease``, ``exclusions``, ``involvement``).

Each patient gets a trial and an arm, demographics, an enrolment date, a baseline scan day and the organs
involved at baseline. Involvement follows published mCRC patterns: first the number of involved organ
categories (``involvement.organ_count_share``), then which organs, drawn without replacement with
probabilities proportional to ``involvement.weight`` (so a one-organ patient is liver-only with probability
w_liver / sum(w), and a patient with several organs almost always has liver among them).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Patients:
    """Screened patients (arrays of length ``n``; ``involved`` is patients x organs)."""

    n: int
    study_id: np.ndarray
    site: np.ndarray
    arm: np.ndarray
    armcd: np.ndarray
    tar: np.ndarray
    line: np.ndarray
    interval: np.ndarray
    age: np.ndarray
    sex: np.ndarray
    race: np.ndarray
    bmi: np.ndarray
    kras: np.ndarray
    prior_surgery: np.ndarray
    rfstdtc: np.ndarray
    admin_day: np.ndarray
    baseline_day: np.ndarray
    involved: np.ndarray


def _arms(trials: list[dict], targeted_words: list[str], n: int, rng: np.random.Generator):
    """Trial index, arm text, arm code and TAR flag of each patient."""
    trial = rng.choice(len(trials), size=n, p=[t["share"] for t in trials])
    n_arms = max(len(t["arms"]) for t in trials)
    cumulative = np.ones((len(trials), n_arms))
    for i, t in enumerate(trials):
        cumulative[i, : len(t["arms"])] = np.cumsum([a["share"] for a in t["arms"]])
    arm_local = np.minimum(
        (rng.random(n)[:, None] >= cumulative[trial]).sum(axis=1), np.array([len(t["arms"]) for t in trials])[trial] - 1
    )
    arm_table = [(a["arm"], a["armcd"]) for t in trials for a in t["arms"]]
    arm = np.cumsum([0] + [len(t["arms"]) for t in trials])[:-1][trial] + arm_local
    words = [w.upper() for w in targeted_words]
    text = np.array([a[0] for a in arm_table], dtype=object)
    code = np.array([a[1] for a in arm_table], dtype=object)
    tar = np.array([any(w in a[0].upper() for w in words) for a in arm_table])
    return trial, text[arm], code[arm], tar[arm]


def baseline_involvement(involvement: dict, organs: list[str], n: int, rng: np.random.Generator) -> np.ndarray:
    """Organs involved at baseline (patients x organs, boolean): a count, then organs without replacement.

    The count k is drawn from ``organ_count_share`` (keys 1, 2, ...); the k organs are the k largest of
    log(weight) + Gumbel noise, which samples k organs without replacement with probabilities proportional
    to the weights (the Gumbel top-k trick).
    """
    shares = involvement["organ_count_share"]
    counts = np.array([int(k) for k in shares])
    probabilities = np.array([float(p) for p in shares.values()])
    if abs(probabilities.sum() - 1.0) > 1e-9:
        raise ValueError(f"involvement.organ_count_share sums to {probabilities.sum()}, not 1")
    if counts.max() > len(organs):
        raise ValueError(f"involvement.organ_count_share asks for {counts.max()} organs; the spec has {len(organs)}")
    k = counts[rng.choice(len(counts), size=n, p=probabilities)]
    weight = np.array([float(involvement["weight"][o]) for o in organs])
    keys = np.log(weight)[None, :] + rng.gumbel(size=(n, len(organs)))
    order = np.argsort(-keys, axis=1)
    involved = np.zeros((n, len(organs)), dtype=bool)
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(len(organs))[None, :].repeat(n, axis=0), axis=1)
    involved[:] = rank < k[:, None]
    return involved


def draw_patients(values: dict, organs: list[str], site_map: dict, n: int, rng: np.random.Generator) -> Patients:
    """Trial and arm, demographics, enrolment, baseline scan day and baseline involvement of ``n`` patients."""
    trials = values["trials"]
    demo = values["demographics"]
    trial, arm, armcd, tar = _arms(trials, site_map["arm_map"]["targeted_words"], n, rng)

    age = np.clip(np.rint(rng.normal(demo["age_mean"], demo["age_sd"], n)), demo["age_min"], demo["age_max"])
    races = np.array(list(demo["race"]), dtype=object)
    kras_levels = np.array(list(demo["kras"]), dtype=object)
    bmi = np.round(np.clip(rng.normal(demo["bmi_mean"], demo["bmi_sd"], n), 15.0, 55.0), 1)
    bmi[rng.random(n) < demo["bmi_missing"]] = np.nan

    start = np.array([np.datetime64(t["start_date"], "D") for t in trials])
    accrual = np.array([t["accrual_days"] for t in trials])
    enrolment_offset = np.floor(rng.random(n) * (accrual[trial] + 1)).astype(np.int64)
    cutoff = np.array([t["cutoff_days"] for t in trials])

    excl = values["exclusions"]
    early = rng.random(n) < excl["early_baseline_rate"]
    lo, hi = excl["early_baseline_days"]
    baseline_day = np.where(
        early, -rng.integers(lo, hi + 1, n), -rng.integers(0, values["disease"]["baseline_window_days"] + 1, n)
    )

    return Patients(
        n=n,
        study_id=np.array([t["study_id"] for t in trials], dtype=object)[trial],
        site=rng.integers(1, values["sdtm"]["sites"] + 1, n),
        arm=arm,
        armcd=armcd,
        tar=tar,
        line=np.array([t["line"] for t in trials], dtype=np.int64)[trial],
        interval=np.array([7 * t["scan_interval_weeks"] for t in trials], dtype=np.int64)[trial],
        age=age,
        sex=np.where(rng.random(n) < demo["male_share"], "M", "F").astype(object),
        race=races[rng.choice(len(races), size=n, p=list(demo["race"].values()))],
        bmi=bmi,
        kras=kras_levels[rng.choice(len(kras_levels), size=n, p=list(demo["kras"].values()))],
        prior_surgery=rng.random(n) < demo["prior_surgery"],
        rfstdtc=start[trial] + enrolment_offset,
        admin_day=(cutoff[trial] - enrolment_offset).astype(np.int64),
        baseline_day=baseline_day.astype(np.int64),
        involved=baseline_involvement(values["involvement"], organs, n, rng),
    )
