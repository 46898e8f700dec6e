"""The replicate study: how well the whole pipeline recovers the truth of the simulated world.

    from lesionmap.study import StudyDesign, run_study
    result = run_study(StudyDesign(cohort="mcrc", n_patients=300, replicates=4), out="_build/study")
    result.summary     # bias, RMSE, 95% coverage per quantity
    result.findings    # share of replicates in which each paper finding holds

Each replicate (``run_replicate``) runs the book's own ``lesionmap.pipeline`` stages on one seed; the
runner (``run_study``) spreads the replicates, and within each the Cox models and the prediction folds, over
Dask workers (an embedded ``LocalCluster`` by default,
any cluster by address) and keeps each finished replicate as Parquet in the output folder, so a study can
be resumed. ``python -m lesionmap study`` is the command line.
"""

from lesionmap.study.replicate import DEFAULT_OPTIONS, ROW_COLUMNS, STAGES, run_replicate, stages_to_run
from lesionmap.study.runner import (
    StudyDesign,
    StudyError,
    StudyResult,
    StudyStore,
    embedded_client,
    print_summary,
    run_study,
)
from lesionmap.study.summary import finding_shares, format_summary, summarise

__all__ = [
    "DEFAULT_OPTIONS",
    "ROW_COLUMNS",
    "STAGES",
    "StudyDesign",
    "StudyError",
    "StudyResult",
    "StudyStore",
    "embedded_client",
    "finding_shares",
    "format_summary",
    "print_summary",
    "run_replicate",
    "run_study",
    "stages_to_run",
    "summarise",
]
