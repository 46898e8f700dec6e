"""The parameters of the growth model and their transformed scales.

Each lesion j has phi_j = mu + eta_j with eta_j ~ N(0, diag(omega^2)) on the transformed scale:
log V0, log Kd, log Kg (log-normal) and logit F (logit-normal). ``mu`` maps to the typical values
(medians) of the natural-scale parameters; omega is the standard deviation of eta.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import expit, logit

#: Model parameters in the order the estimator keeps them (V0 first when it is estimated).
PARAMETERS = ("V0", "Kd", "F", "Kg")

#: Transformation of each parameter to the scale of its normal random effect.
TRANSFORMS = {"V0": "log", "Kd": "log", "F": "logit", "Kg": "log"}

#: Error models: proportional sd = b f; combined sd = a + b f (saemix's "combined").
ERROR_MODELS = ("proportional", "combined")


def to_phi(name: str, value):
    """Natural-scale value(s) of parameter ``name`` on its transformed (normal) scale."""
    value = np.asarray(value, dtype=float)
    return logit(value) if TRANSFORMS[name] == "logit" else np.log(value)


def from_phi(name: str, phi):
    """Transformed-scale value(s) of parameter ``name`` back on the natural scale."""
    phi = np.asarray(phi, dtype=float)
    return expit(phi) if TRANSFORMS[name] == "logit" else np.exp(phi)


def natural_derivative(name: str, phi):
    """d(natural)/d(phi), for standard errors by the delta method."""
    value = from_phi(name, phi)
    return value * (1.0 - value) if TRANSFORMS[name] == "logit" else value


def _realistic_population() -> dict:
    # Realistic mCRC scales, per day (FACTS: Kd 0.01-0.02/day, Kg 0.002-0.005/day; F 0.1-0.3).
    return {"V0": 2500.0, "Kd": 0.015, "F": 0.2, "Kg": 0.003}


def _realistic_omega() -> dict:
    return {"V0": 1.0, "Kd": 0.5, "F": 0.9, "Kg": 0.75}


@dataclass(frozen=True)
class GrowthParameters:
    """Population parameters of the growth model.

    ``population``: typical values on the natural scale (V0 in mm^3, rates per day); ``omega``: SD of the
    random effect of each parameter on its transformed scale; ``b``: proportional residual error;
    ``a``: additive residual error (combined error model; 0 for proportional error).
    The defaults are realistic for mCRC lesions measured in days.
    """

    population: dict = field(default_factory=_realistic_population)
    omega: dict = field(default_factory=_realistic_omega)
    b: float = 0.15
    a: float = 0.0

    def __post_init__(self):
        missing = [p for p in ("Kd", "F", "Kg") if p not in self.population or p not in self.omega]
        if missing:
            raise ValueError(f"GrowthParameters needs population and omega values for {missing}")
        if not 0.0 < float(self.population["F"]) < 1.0:
            raise ValueError(f"F must lie strictly between 0 and 1, got {self.population['F']}")
        if self.b < 0 or self.a < 0:
            raise ValueError("residual error parameters a and b must be >= 0")

    def mu(self, names) -> np.ndarray:
        """Typical values on the transformed scale, in the order of ``names``."""
        return np.array([float(to_phi(n, self.population[n])) for n in names])

    def omega_vector(self, names) -> np.ndarray:
        """Random-effect SDs in the order of ``names``."""
        return np.array([float(self.omega[n]) for n in names])
