"""What several test modules share: the repository root and the saemix reference data.

pytest puts this folder on ``sys.path`` (rootdir-relative imports), so test modules import these names with
``from conftest import ...``; no module edits ``sys.path`` itself.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: saemix's fits of the tumour-growth-inhibition data set (the reference of the SAEM tests).
SAEM_REFERENCE = Path(__file__).parent / "reference" / "saemix"

#: The columns of the saemix reference data, as SAEM's options.
TGI_COLUMNS = {"lesion_col": "id", "time_col": "time", "value_col": "y", "censored_col": "cens", "loq": 5.0}
