"""Long study of the covariate SAEM (``make test-slow``): bias and 95% coverage of covariate effects."""

import sys
from pathlib import Path

import numpy as np
import pytest

from lesionmap.growth import SAEM

sys.path.insert(0, str(Path(__file__).parent))
from test_saem_covariates import DESIGN, REFERENCES, simulate, true_coefficient  # noqa: E402

pytestmark = pytest.mark.slow


def test_covariate_effects_are_unbiased_and_their_intervals_cover_the_truth():
    """30 simulated cohorts of 800 lesions: mean error under 0.4 mean SE per coefficient, coverage >= 83%."""
    n_rep = 30
    errors, ses, hits = {}, {}, {}
    for rep in range(n_rep):
        measurements, table = simulate(800, seed=500 + 7 * rep)
        fit = SAEM(covariates=DESIGN, references=REFERENCES, random_state=rep, n_is_samples=0, verbose=False).fit(
            measurements, covariate_table=table
        )
        for row in fit.coefficients.itertuples():
            truth = true_coefficient(row.term, row.parameter)
            errors.setdefault(row.term, []).append(row.estimate - truth)
            ses.setdefault(row.term, []).append(row.se)
            hits.setdefault(row.term, []).append(row.ci95_lower <= truth <= row.ci95_upper)
    bias = {k: float(np.mean(v)) for k, v in errors.items()}
    mean_se = {k: float(np.mean(v)) for k, v in ses.items()}
    coverage = {k: float(np.mean(v)) for k, v in hits.items()}
    # the mean of 30 errors has SD about SE / 5.5: a bias over 0.4 SE is a real one at the 2% level
    assert all(abs(bias[k]) < 0.4 * mean_se[k] for k in bias), (bias, mean_se)
    # 30 replicates: a true 95% coverage falls below 83% with probability < 1%
    assert all(c >= 0.83 for c in coverage.values()), coverage
