"""Simulated cohorts: cohort specs, the simulator, and the CDISC SDTM writer.

    spec = load_spec("mcrc")                 # data/cohorts/mcrc.yaml, every number with its source
    cohort = simulate(spec, n_patients=300, seed=1)
    cohort.patients, cohort.lesions, cohort.measurements, cohort.lesion_status, cohort.exclusions
    cohort.truth.lesions                     # V0, Kd, F, Kg and true event times of every lesion
    cohort.truth.organ_sequences             # every patient's complete true organ progression sequence
    write_sdtm(cohort, "sdtm/", fmt="xpt")   # DM, SUPPDM, TU, TR, RS, ADTTE
    cohort.save_truth("sdtm/truth")
    calibration_table(spec)                  # published vs assumed numbers

One module per mechanism, each reading its own section of the spec: ``patients`` (trials, demographics,
baseline organ involvement), ``lesion_growth`` (the paper's growth model, ``lesionmap.growth.model``),
``spread`` (new lesions, favouring involved organs, and the liver hub), ``death`` (organ-specific death
risk), ``followup`` (scans and RECIST as trials record them); ``records`` builds the SDTM records, the
analysis tables and the truth (its files and columns are listed in ``lesionmap.cohort.records``).
"""

from lesionmap.cohort.sdtm_writer import sdtm_domains, write_sdtm
from lesionmap.cohort.simulate import DEFAULT_SEED, CohortTruth, SimulatedCohort, simulate
from lesionmap.cohort.spec import CohortSpec, SpecError, calibration_table, load_spec, tar_spared_organs

__all__ = [
    "DEFAULT_SEED",
    "CohortSpec",
    "CohortTruth",
    "SimulatedCohort",
    "SpecError",
    "calibration_table",
    "load_spec",
    "sdtm_domains",
    "simulate",
    "tar_spared_organs",
    "write_sdtm",
]
