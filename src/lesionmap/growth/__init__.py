"""The lesion growth model V(t) = V0 [F e^{Kg t} + (1 - F) e^{-Kd t}] and its SAEM estimator.

- the model and the event times it implies: ``predict_volume``, ``volume_from_diameter``, ``nadir``,
  ``time_to_response``, ``time_to_progression`` (vectorised over lesions, capped at a follow-up horizon);
- the estimator: ``SAEM(...).fit(measurements)`` returns ``SAEMResults`` (population estimates with
  standard errors, Omega, residual error, shrinkage, individual parameters, predictions, -2LL, trajectory);
  ``SAEM(covariates={"Kg": ["organ"]})`` puts covariates on the typical values (``results.coefficients``,
  ``results.wald_test``, ``likelihood_ratio_test``);
- simulation: ``simulate_growth_data`` (known truth, sparse 8-weekly scans, M3 censoring) and
  ``simulate_from_fit`` / ``vpc_table`` for visual predictive checks.
"""

from lesionmap.growth.exercises import exercise_answers
from lesionmap.growth.model import (
    diameter_from_volume,
    nadir,
    predict_volume,
    progression_threshold,
    time_to_progression,
    time_to_response,
    volume_from_diameter,
)
from lesionmap.growth.parameters import PARAMETERS, GrowthParameters
from lesionmap.growth.results import SAEMResults, likelihood_ratio_test, simulate_from_fit, vpc_table
from lesionmap.growth.saem import SAEM
from lesionmap.growth.simulate import GrowthSimulation, simulate_growth_data

__all__ = [
    "PARAMETERS",
    "SAEM",
    "GrowthParameters",
    "GrowthSimulation",
    "SAEMResults",
    "diameter_from_volume",
    "exercise_answers",
    "likelihood_ratio_test",
    "nadir",
    "predict_volume",
    "progression_threshold",
    "simulate_from_fit",
    "simulate_growth_data",
    "time_to_progression",
    "time_to_response",
    "volume_from_diameter",
    "vpc_table",
]
